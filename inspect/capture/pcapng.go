package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// pcapng block types we read; every other block is skipped.
const (
	ngSHB = 0x0A0D0D0A // section header
	ngIDB = 0x00000001 // interface description
	ngOPB = 0x00000002 // obsolete packet block
	ngSPB = 0x00000003 // simple packet
	ngEPB = 0x00000006 // enhanced packet
)

// maxBlock bounds a pcapng block: a frame plus generous room for options.
const maxBlock = maxFrame + 64<<10

// maxInterfaces bounds the interfaces a (damaged) file can declare.
const maxInterfaces = 1024

type ngInterface struct {
	link    uint32
	snaplen uint32
	units   uint64 // timestamp units per second
	offset  int64  // seconds added to every timestamp
}

// ngSource reads pcapng. We read it ourselves rather than with gopacket's NgReader because
// NgReader allocates whatever length a (damaged) block claims; here every length is
// checked against maxBlock first.
type ngSource struct {
	r      *countingReader
	order  binary.ByteOrder
	ifaces []ngInterface
	hdr    [8]byte
	buf    []byte
}

func newNgSource(r *countingReader) (*ngSource, error) {
	s := &ngSource{r: r, order: binary.LittleEndian}
	typ, body, err := s.block()
	if err != nil {
		return nil, fmt.Errorf("pcapng section header: %w", err)
	}
	if typ != ngSHB {
		return nil, fmt.Errorf("pcapng: first block is %#x, not a section header: %w", typ, errDamaged)
	}
	_ = body // section header options (hardware, OS, application) are not needed
	return s, nil
}

func (s *ngSource) offset() int64 { return s.r.n }

// block reads one whole block and returns its type and body (without the type and the two
// length fields). A section header sets the byte order for what follows.
func (s *ngSource) block() (uint32, []byte, error) {
	start := s.r.n
	if _, err := io.ReadFull(s.r, s.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = ErrTruncated
		}
		return 0, nil, err
	}
	typ := s.order.Uint32(s.hdr[0:4])
	if binary.LittleEndian.Uint32(s.hdr[0:4]) == ngSHB {
		typ = ngSHB
		var bom [4]byte
		if err := readFull(s.r, bom[:]); err != nil {
			return 0, nil, noEOF(err)
		}
		switch {
		case binary.LittleEndian.Uint32(bom[:]) == 0x1A2B3C4D:
			s.order = binary.LittleEndian
		case binary.BigEndian.Uint32(bom[:]) == 0x1A2B3C4D:
			s.order = binary.BigEndian
		default:
			return 0, nil, fmt.Errorf("bad byte-order magic at offset %d: %w", start+8, errDamaged)
		}
		s.ifaces = s.ifaces[:0]
	}
	n := s.order.Uint32(s.hdr[4:8])
	if n < 12 || n%4 != 0 || n > maxBlock || (typ == ngSHB && n < 16) {
		return 0, nil, fmt.Errorf("block of length %d at offset %d: %w", n, start, errDamaged)
	}
	body := int(n) - 12
	if typ == ngSHB {
		body -= 4 // the byte-order magic, already read
	}
	if cap(s.buf) < body+4 {
		s.buf = make([]byte, body+4, max(body+4, 4096))
	}
	buf := s.buf[:body+4]
	if err := readFull(s.r, buf); err != nil {
		return 0, nil, noEOF(err)
	}
	if s.order.Uint32(buf[body:]) != n {
		return 0, nil, fmt.Errorf("block at offset %d: trailing length differs: %w", start, errDamaged)
	}
	return typ, buf[:body], nil
}

// noEOF turns io.EOF inside a record into ErrTruncated.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return ErrTruncated
	}
	return err
}

func (s *ngSource) next() ([]byte, time.Time, uint32, error) {
	for {
		typ, b, err := s.block()
		if err != nil {
			return nil, time.Time{}, 0, err
		}
		switch typ {
		case ngIDB:
			if err := s.addInterface(b); err != nil {
				return nil, time.Time{}, 0, err
			}
		case ngEPB, ngOPB:
			if len(b) < 20 {
				return nil, time.Time{}, 0, fmt.Errorf("short packet block before offset %d: %w", s.r.n, errDamaged)
			}
			var id uint32
			if typ == ngEPB {
				id = s.order.Uint32(b[0:4])
			} else {
				id = uint32(s.order.Uint16(b[0:2]))
			}
			if id >= uint32(len(s.ifaces)) {
				return nil, time.Time{}, 0, fmt.Errorf("packet for undeclared interface %d before offset %d: %w", id, s.r.n, errDamaged)
			}
			ts := uint64(s.order.Uint32(b[4:8]))<<32 | uint64(s.order.Uint32(b[8:12]))
			caplen := s.order.Uint32(b[12:16])
			if uint64(caplen) > uint64(len(b)-20) {
				return nil, time.Time{}, 0, fmt.Errorf("packet longer than its block before offset %d: %w", s.r.n, errDamaged)
			}
			ifc := &s.ifaces[id]
			return b[20 : 20+caplen], ifc.time(ts), ifc.link, nil
		case ngSPB:
			if len(s.ifaces) == 0 || len(b) < 4 {
				return nil, time.Time{}, 0, fmt.Errorf("simple packet without interface before offset %d: %w", s.r.n, errDamaged)
			}
			n := uint64(s.order.Uint32(b[0:4]))
			n = min(n, uint64(len(b)-4))
			if sl := s.ifaces[0].snaplen; sl != 0 {
				n = min(n, uint64(sl))
			}
			return b[4 : 4+n], time.Time{}, s.ifaces[0].link, nil
		}
	}
}

func (s *ngSource) addInterface(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("short interface block before offset %d: %w", s.r.n, errDamaged)
	}
	if len(s.ifaces) >= maxInterfaces {
		return fmt.Errorf("more than %d interfaces: %w", maxInterfaces, errDamaged)
	}
	ifc := ngInterface{link: uint32(s.order.Uint16(b[0:2])), snaplen: s.order.Uint32(b[4:8]), units: 1e6}
	opts := b[8:]
	for len(opts) >= 4 {
		code, n := s.order.Uint16(opts[0:2]), int(s.order.Uint16(opts[2:4]))
		if code == 0 || 4+n > len(opts) {
			break
		}
		v := opts[4 : 4+n]
		switch {
		case code == 9 && n >= 1: // if_tsresol
			e := uint(v[0] & 0x7f)
			if v[0]&0x80 != 0 {
				if e > 63 {
					return fmt.Errorf("timestamp resolution 2^-%d: %w", e, errDamaged)
				}
				ifc.units = 1 << e
			} else {
				if e > 19 {
					return fmt.Errorf("timestamp resolution 10^-%d: %w", e, errDamaged)
				}
				ifc.units = 1
				for range e {
					ifc.units *= 10
				}
			}
		case code == 14 && n >= 8: // if_tsoffset
			ifc.offset = int64(s.order.Uint64(v))
		}
		if adv := 4 + (n+3)&^3; adv < len(opts) {
			opts = opts[adv:]
		} else {
			break
		}
	}
	s.ifaces = append(s.ifaces, ifc)
	return nil
}

// time converts a timestamp in the interface's units to a time.
func (ifc *ngInterface) time(ts uint64) time.Time {
	sec, frac := ts/ifc.units, ts%ifc.units
	hi, lo := bits.Mul64(frac, 1e9)
	nsec, _ := bits.Div64(hi, lo, ifc.units) // frac < units, so the quotient fits
	return time.Unix(int64(sec)+ifc.offset, int64(nsec)).UTC()
}
