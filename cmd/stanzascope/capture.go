package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/outfile"
	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/capture"
)

// Wiring of inspect/capture into the commands: capture files and live interfaces for
// inspect, --pcap-out for the proxy and the switch.
func init() {
	readCaptureFile = func(ctx context.Context, path string, ports []int, sink inspect.Sink, stderr io.Writer) error {
		sum, err := capture.ReadFile(ctx, path, capture.Options{Ports: ports}, sink)
		fmt.Fprintf(stderr, "stanzascope: capture %s: %s\n", path, sum)
		return err
	}
	readLive = func(ctx context.Context, iface string, ports []int, sink inspect.Sink, stderr io.Writer) error {
		_, err := capture.ReadLive(ctx, iface, capture.Options{Ports: ports}, sink, stderr)
		if errors.Is(err, context.Canceled) {
			return nil // Ctrl-C is how a live capture ends
		}
		if errors.Is(err, capture.ErrPermission) {
			return reportedError{err} // ReadLive said it in one line
		}
		return err
	}
	newPcapSink = func(path string) (inspect.Sink, io.Closer, error) {
		f, err := outfile.Open(path, os.O_TRUNC)
		if err != nil {
			return nil, nil, err
		}
		w, err := capture.NewPcapWriter(f)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return pcapSink{w, f}, pcapCloser{w, f}, nil
	}
}

// pcapSink is the capture written by --pcap-out. Its Flush (the chain's queue ran empty)
// hands what the writer buffered to the file, and the file's own buffer to the disk.
type pcapSink struct {
	*capture.PcapWriter
	f *outfile.File
}

func (p pcapSink) Flush() error {
	if err := p.PcapWriter.Flush(); err != nil {
		return err
	}
	return p.f.Flush()
}

// pcapCloser flushes the writer, then closes the file.
type pcapCloser struct {
	w *capture.PcapWriter
	f *outfile.File
}

func (c pcapCloser) Close() error { return errors.Join(c.w.Close(), c.f.Close()) }
