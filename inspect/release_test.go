package inspect

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// chunkReader hands out its bytes in pieces of random sizes (1 to 700 bytes).
type chunkReader struct {
	b   []byte
	rnd *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(1+c.rnd.IntN(700), len(p), len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

type seenEvent struct {
	kind   Kind
	offset int64
	raw    string
	line   int64
}

// frameReleasing frames data read in random pieces, dropping the buffer after every event when
// release is set, and returns what it saw.
func frameReleasing(t *testing.T, data []byte, seed uint64, release bool) []seenEvent {
	t.Helper()
	r := NewReader(&chunkReader{b: data, rnd: rand.New(rand.NewPCG(seed, 1))}, Limits{})
	var out []seenEvent
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("seed %d, release %v: %v", seed, release, err)
		}
		out = append(out, seenEvent{ev.Kind, ev.Offset, string(ev.Raw), r.lines})
		if release {
			held := r.Buffered() > 0
			if r.ReleaseBuffer() == held {
				t.Fatalf("ReleaseBuffer with %d bytes unread returned %v", r.Buffered(), !held)
			}
			if held && r.buf == nil {
				t.Fatal("the buffer was dropped with unread bytes")
			}
		}
	}
}

// TestReleaseBuffer: a reader that drops its buffer whenever it holds no unread bytes
// frames the same events at the same offsets as one that keeps it, however the bytes
// arrive; with unread bytes it keeps the buffer.
func TestReleaseBuffer(t *testing.T) {
	data := append(benchStream(40), "\n <presence/>\n</stream:stream>"...)
	for seed := range uint64(30) {
		kept := frameReleasing(t, data, seed, false)
		dropped := frameReleasing(t, data, seed, true)
		if len(kept) != len(dropped) {
			t.Fatalf("seed %d: %d events kept, %d dropped", seed, len(kept), len(dropped))
		}
		for i := range kept {
			if kept[i] != dropped[i] {
				t.Fatalf("seed %d event %d:\nkept    %+v\ndropped %+v", seed, i, kept[i], dropped[i])
			}
		}
	}
	// Nothing read yet: no buffer to drop. After the header, with a stanza half read: kept.
	r := NewReader(bytes.NewReader([]byte(testHeader+"<message><bo")), Limits{})
	if r.ReleaseBuffer() {
		t.Error("a new reader dropped a buffer it does not have")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.Buffered() == 0 || r.ReleaseBuffer() {
		t.Errorf("with %d bytes unread, ReleaseBuffer dropped the buffer", r.Buffered())
	}
}

// TestReaderFillFrom: bytes that FillFrom reads from elsewhere are the stream's next ones,
// between the source's, and its error is the caller's, not the stream's: the stream frames
// the same events as when read from its source alone.
func TestReaderFillFrom(t *testing.T) {
	stream := []byte("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>" +
		"<message to='a@localhost' id='1'><body>one</body></message> <presence/><iq type='get' id='2'><ping xmlns='urn:xmpp:ping'/></iq>" +
		"<message to='b@localhost' id='3'><body>three</body></message></stream:stream>")
	want := frameReleasing(t, stream, 1, false)
	for seed := uint64(1); seed <= 50; seed++ {
		rnd := rand.New(rand.NewPCG(seed, 2))
		src := &chunkReader{b: stream, rnd: rnd}
		r := NewReader(src, Limits{})
		var got []seenEvent
		timeout := io.ErrNoProgress // stands for a deadline the caller set
		for {
			if rnd.IntN(2) == 0 {
				// The caller's wait: sometimes nothing comes before its deadline.
				n, err, ok := r.FillFrom(func(p []byte) (int, error) {
					if rnd.IntN(3) == 0 {
						return 0, timeout
					}
					return src.Read(p)
				})
				if ok && n == 0 && err != timeout && err != io.EOF {
					t.Fatalf("seed %d: FillFrom: %d, %v", seed, n, err)
				}
			}
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			got = append(got, seenEvent{ev.Kind, ev.Offset, string(ev.Raw), 0})
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d events, want %d", seed, len(got), len(want))
		}
		for i := range got {
			if got[i].kind != want[i].kind || got[i].offset != want[i].offset || got[i].raw != want[i].raw {
				t.Fatalf("seed %d: event %d %+v, want %+v", seed, i, got[i], want[i])
			}
		}
	}
	hdr := stream[:bytes.IndexByte(stream, '>')+1]
	hdr = stream[:len(hdr)+bytes.IndexByte(stream[len(hdr):], '>')+1] // the declaration, then the header
	r := NewReader(bytes.NewReader(hdr), Limits{})
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if !r.ReleaseBuffer() {
		t.Fatal("ReleaseBuffer with nothing unread")
	}
	if _, _, ok := r.FillFrom(func([]byte) (int, error) { t.Fatal("read without a buffer"); return 0, nil }); ok {
		t.Fatal("FillFrom without a buffer said it read")
	}
}
