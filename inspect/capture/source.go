package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// maxFrame bounds one captured frame. The largest IP packet is 64 KiB; Linux loopback
// captures with offloads stay below 256 KiB. A larger length means a damaged file, and
// rejecting it keeps a damaged length field from making us allocate gigabytes.
const maxFrame = 256 << 10

// ErrTruncated is wrapped by the errors of a capture file that ends in the middle of a
// record (a capture cut short, a copy of a file still being written).
var ErrTruncated = errors.New("capture file truncated")

// errDamaged is wrapped by the errors of structurally damaged capture files.
var errDamaged = errors.New("damaged capture file")

// packetSource yields the frames of a capture. data is valid until the next call.
type packetSource interface {
	next() (data []byte, ts time.Time, link uint32, err error)
	offset() int64 // bytes of the file consumed so far, for error messages
}

// countingReader counts bytes read so that errors can say where the file is damaged.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readFull is io.ReadFull that reports a short read as ErrTruncated.
func readFull(r io.Reader, p []byte) error {
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return ErrTruncated
		}
		return err
	}
	return nil
}

// openSource detects the format by its magic number (pcap in either byte order and either
// time resolution, pcapng, or either of them gzip-compressed) and returns a source.
func openSource(r io.Reader) (packetSource, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil {
		if len(magic) == 0 && errors.Is(err, io.EOF) {
			return nil, errors.New("empty file: not a capture")
		}
		return nil, fmt.Errorf("reading magic number: %w", ErrTruncated)
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		br = bufio.NewReaderSize(zr, 64<<10)
		if magic, err = br.Peek(4); err != nil {
			return nil, fmt.Errorf("reading magic number: %w", ErrTruncated)
		}
	}
	cr := &countingReader{r: br}
	switch {
	case binary.BigEndian.Uint32(magic) == 0x0A0D0D0A:
		return newNgSource(cr)
	default:
		switch binary.LittleEndian.Uint32(magic) {
		case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
			return newPcapSource(cr)
		}
	}
	return nil, fmt.Errorf("not a pcap or pcapng file (magic %x)", magic)
}

// pcapSource reads the classic libpcap format.
type pcapSource struct {
	r     *countingReader
	order binary.ByteOrder
	nanos bool
	link  uint32
	hdr   [16]byte
	buf   []byte
}

func newPcapSource(r *countingReader) (*pcapSource, error) {
	var h [24]byte
	if err := readFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	s := &pcapSource{r: r}
	switch binary.LittleEndian.Uint32(h[:4]) {
	case 0xa1b2c3d4:
		s.order = binary.LittleEndian
	case 0xa1b23c4d:
		s.order, s.nanos = binary.LittleEndian, true
	case 0xd4c3b2a1:
		s.order = binary.BigEndian
	case 0x4d3cb2a1:
		s.order, s.nanos = binary.BigEndian, true
	}
	if major := s.order.Uint16(h[4:6]); major != 2 {
		return nil, fmt.Errorf("pcap version %d is not supported: %w", major, errDamaged)
	}
	s.link = s.order.Uint32(h[20:24]) & 0xffff // upper bits carry FCS information
	return s, nil
}

func (s *pcapSource) offset() int64 { return s.r.n }

func (s *pcapSource) next() ([]byte, time.Time, uint32, error) {
	if _, err := io.ReadFull(s.r, s.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = ErrTruncated
		}
		return nil, time.Time{}, 0, err // io.EOF at a record boundary is the normal end
	}
	sec := int64(s.order.Uint32(s.hdr[0:4]))
	frac := int64(s.order.Uint32(s.hdr[4:8]))
	incl := s.order.Uint32(s.hdr[8:12])
	if incl > maxFrame {
		return nil, time.Time{}, 0, fmt.Errorf("record of %d bytes at offset %d: %w", incl, s.r.n-16, errDamaged)
	}
	if !s.nanos {
		frac *= 1000
	}
	if cap(s.buf) < int(incl) {
		s.buf = make([]byte, incl, max(incl, 2048))
	}
	data := s.buf[:incl]
	if err := readFull(s.r, data); err != nil {
		if errors.Is(err, io.EOF) {
			err = ErrTruncated
		}
		return nil, time.Time{}, 0, err
	}
	return data, time.Unix(sec, frac).UTC(), s.link, nil
}
