// Package capture reads XMPP traffic from packet captures (pcap and pcapng files, live
// interfaces) and writes decrypted traffic as pcap files that Wireshark can open.
//
// Reading reassembles each TCP connection, recognises XMPP (by port, or by a stream header
// at the start of the client's bytes), and runs inspect's stream reader over both
// directions, producing the same records the proxy produces, with the capture's
// timestamps. Connections encrypted with TLS are listed, not read.
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// ErrPermission is wrapped by ReadLive's error when the process may not capture.
var ErrPermission = errors.New("permission denied")

// Options configure capture reading.
type Options struct {
	Ports     []int          // TCP ports read as XMPP in addition to 5222 and 5269
	Limits    inspect.Limits // limits of the stream readers
	IdleFlush time.Duration  // capture time after which a silent connection is flushed; 0: DefaultIdleFlush
}

// Summary counts what a capture held.
type Summary struct {
	Packets     int   // frames read
	Flows       int   // TCP connections seen
	XMPPFlows   int   // connections read as XMPP (TLS ones included)
	TLSFlows    int   // connections found encrypted
	Records     int   // records given to the sink
	Gaps        int   // KindGap records (bytes missing from the capture)
	Bytes       int64 // TCP payload bytes reassembled
	Truncated   bool  // the file ended in the middle of a record
	Unsupported int   // frames of a link type we cannot decode (not counted elsewhere)
	Untracked   int   // packets not read because too many connections were open at once
}

// String formats the summary on one line for a person.
func (s Summary) String() string {
	t := ""
	if s.Truncated {
		t = ", file truncated"
	}
	return fmt.Sprintf("%d packets, %d TCP connections, %d XMPP (%d TLS), %d records, %d gaps, %d bytes%s",
		s.Packets, s.Flows, s.XMPPFlows, s.TLSFlows, s.Records, s.Gaps, s.Bytes, t)
}

// ReadFile reads the pcap or pcapng file at path (gzip-compressed or not; the format is
// found by its magic number) and writes the records of its XMPP connections to sink in
// capture order: for each connection a KindConnOpen, its stream events in both
// directions, KindGap where bytes are missing, KindNote for TLS, and a KindConnClose.
//
// A file that ends inside a record is not an error: what it held is reported, the
// connections still open are closed with a note, and Summary.Truncated is set. A file
// damaged in the middle is read up to the damage, then ReadFile returns an error wrapping
// the cause. An error of the sink stops the reading and is returned.
func ReadFile(ctx context.Context, path string, opt Options, sink inspect.Sink) (Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Summary{}, fmt.Errorf("capture: %w", err)
	}
	defer f.Close()
	sum, err := Read(ctx, f, opt, sink)
	if err != nil {
		return sum, fmt.Errorf("capture: %s: %w", path, err)
	}
	return sum, nil
}

// Read is ReadFile on an open stream of capture bytes.
func Read(ctx context.Context, r io.Reader, opt Options, sink inspect.Sink) (Summary, error) {
	src, err := openSource(r)
	if err != nil {
		return Summary{}, err
	}
	e := newEngine(opt, sink)
	var readErr error
	var badLinks []uint32
	for n := 0; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			readErr = ctx.Err()
			break
		}
		data, ts, link, err := src.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if !linkSupported(link) {
			e.sum.Packets++
			e.sum.Unsupported++
			if !slices.Contains(badLinks, link) && len(badLinks) < 16 {
				badLinks = append(badLinks, link)
				e.emit((&inspect.Record{Time: ts, Kind: inspect.KindNote}).WithNote(
					fmt.Sprintf("link type %d is not supported: its packets are skipped", link)))
			}
			continue
		}
		e.packet(data, ts, link)
		if e.err != nil {
			break
		}
	}
	reason := "capture ended"
	switch {
	case errors.Is(readErr, ErrTruncated):
		e.sum.Truncated = true
		reason = "capture ended (file truncated)"
		e.emit((&inspect.Record{Time: e.now, Kind: inspect.KindNote}).WithNote(
			fmt.Sprintf("capture file truncated at byte %d: the last packet is incomplete", src.offset())))
		readErr = nil
	case readErr != nil && !errors.Is(readErr, context.Canceled) && !errors.Is(readErr, context.DeadlineExceeded):
		reason = "capture ended (file damaged)"
		e.emit((&inspect.Record{Time: e.now, Kind: inspect.KindNote}).WithNote(
			fmt.Sprintf("capture file damaged near byte %d: %v", src.offset(), readErr)))
	}
	e.finish(reason)
	if e.err != nil {
		return e.sum, fmt.Errorf("writing records: %w", e.err)
	}
	return e.sum, readErr
}
