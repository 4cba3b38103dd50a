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
