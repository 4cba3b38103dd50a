package inspect

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

// The scanner takes a tag that is buffered whole by a shorter way than the states that
// resume byte by byte (plainStartTag, plainEndTag). FuzzReaderPieces holds the two to the
// same result: a stream read whole and the same stream read one byte at a time (where
// nearly every tag goes through the states) give the same events, the same violations and
// the same error, in both modes.

// pieceEvent is what one event or the final error says, comparable across readings.
type pieceEvent struct {
	kind   Kind
	off    int64
	raw    string
	name   string
	ns     string
	top    [numTopAttrs]span
	viols  string
	errStr string
}

func readPieces(in []byte, src io.Reader, lim Limits) []pieceEvent {
	r := NewReader(src, lim)
	var out []pieceEvent
	for k := 0; k <= len(in)+1; k++ {
		ev, err := r.Next()
		if err != nil {
			if se := AsStreamError(err); se != nil {
				// The text may differ: a tag cut by a read is judged by the state the
				// cut leaves, which says what it expected in its own words.
				out = append(out, pieceEvent{errStr: fmt.Sprintf("%s %s at %d", se.Condition, se.Section, se.Offset)})
			} else {
				out = append(out, pieceEvent{errStr: err.Error()})
			}
			return out
		}
		if ev.Kind == KindWhitespace {
			continue // handed out before blocking for more, so it depends on the reads
		}
		out = append(out, pieceEvent{
			kind: ev.Kind, off: ev.Offset, raw: string(ev.Raw), name: ev.Name, ns: ev.NS,
			top: ev.top, viols: fmt.Sprintf("%+v", ev.Violations),
		})
	}
	return out
}

func FuzzReaderPieces(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	for _, s := range []string{
		"<message to='a@b' from='c@d/e' type='chat' id='1'><body>x</body><thread>t</thread></message>",
		"<a b='1'c='2'/>", "<a b = '1'/>", "<a b='1' b='2'/>", "<a b='x&amp;y' c='\"'/>",
		"<a\tb='1'\n/>", "<a b='1' / >", "<a><b></b ></a>", "<a><b></c></a>", "<a:b xmlns:a='u'></a:b>",
		"<a>\xc3\xa9<b\xc3\xa9/></a>", "<\xc3\xa9>x</\xc3\xa9>", "<a xmlns='jabber:client'/>",
		"<p:a xmlns:p='u' p:x='1' p:x='2'/>", "<a::b/>", "<a b:='1'/>", "<a><a><a></a></a></a>",
		"<a b='1\x01'/>", "<a b='<'/>", "<a b='\xff'/>", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, annotate bool) {
		in := append([]byte(fuzzHeader), data...)
		lim := Limits{MaxDepth: 8, MaxAttrs: 6, MaxNamespaces: 4, Annotate: annotate}
		whole := readPieces(in, bytes.NewReader(in), lim)
		bytewise := readPieces(in, iotest.OneByteReader(bytes.NewReader(in)), lim)
		if !slices.Equal(whole, bytewise) {
			t.Fatalf("read whole:\n%+v\nread a byte at a time:\n%+v", whole, bytewise)
		}
	})
}
