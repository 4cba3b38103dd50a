package logs

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// fuzzRead checks what must hold for any input of a format: Read ends, returns nil or a
// *DamagedError (nothing else can fail on a bytes.Reader and a sink that accepts all),
// every error record names a line of the input, every record of the stream belongs to a
// connection, and connections are numbered in the order they appear.
func fuzzRead(t *testing.T, f Format, data []byte) {
	lines := bytes.Count(data, []byte("\n")) + 1
	var recs []*inspect.Record
	err := Read(bytes.NewReader(data), f, inspect.SinkFunc(func(r *inspect.Record) error {
		recs = append(recs, r)
		return nil
	}), Options{Limits: inspect.Limits{MaxStanza: 4 << 10}, MaxSessions: 8, MaxLine: 16 << 10})
	var de *DamagedError
	if err != nil && !errors.As(err, &de) {
		t.Fatalf("Read: %v", err)
	}
	errs := 0
	var maxID uint64
	for _, r := range recs {
		if r.Kind == inspect.KindError {
			errs++
			var le *LineError
			if !errors.As(r.Err(), &le) || le.Line < 1 || le.Line > lines {
				t.Fatalf("error record %v does not name a line of the %d", r.Err(), lines)
			}
		}
		if r.Conn == nil {
			if r.Kind != inspect.KindNote && r.Kind != inspect.KindError {
				t.Fatalf("%v record without a connection", r.Kind)
			}
			continue
		}
		if r.Kind == inspect.KindConnOpen {
			if r.Conn.ID != maxID+1 {
				t.Fatalf("connection %d opens after %d", r.Conn.ID, maxID)
			}
			maxID = r.Conn.ID
		} else if r.Conn.ID > maxID {
			t.Fatalf("a %v record of connection %d before it opened", r.Kind, r.Conn.ID)
		}
		if r.Kind == inspect.KindStanza && len(r.Raw) == 0 {
			t.Fatal("empty stanza")
		}
	}
	if (de != nil) != (errs > 0) || (de != nil && de.Lines != errs) {
		t.Fatalf("Read returned %v with %d error records", err, errs)
	}
}

func FuzzSlixmpp(f *testing.F) {
	f.Add([]byte("2026-01-02 10:00:00,000 DEBUG    SEND: <stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>\n" +
		"2026-01-02 10:00:00,001 DEBUG    RECV: <stream:stream id=\"1\">\n2026-01-02 10:00:00,002 DEBUG    RECV: <message><body>a\nb</body></message>\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, Slixmpp, data) })
}

func FuzzProsody(f *testing.F) {
	f.Add([]byte("Nov 28 02:04:24 c2s1\tinfo\tClient connected\nNov 28 02:04:24 c2s1\tdebug\tRECV: <message><body>a\n\tb</body></message>\n" +
		"Nov 28 02:04:24 c2s1\tinfo\tClient disconnected: closed\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, Prosody, data) })
}

func FuzzEjabberd(f *testing.F) {
	f.Add([]byte("2026-11-28 02:06:55.584443+00:00 [notice] <0.488.0> (tcp|<0.488.0>) Received XML on stream = <<\"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><pres\">>\n" +
		"2026-11-28 02:06:55.584444+00:00 [notice] <0.488.0> (tcp|<0.488.0>) Received XML on stream = <<101,110,99,101,\n  47,62>>\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, Ejabberd, data) })
}

func FuzzSmack(f *testing.F) {
	f.Add([]byte("10:15:02 SENT (0): <stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>\n" +
		"10:15:02 RECV (0): <message><body>a\nb</body></mes\n10:15:02 RECV (0): sage>\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, Smack, data) })
}

// FuzzDetect: detection never panics, and a prefix that detection is sure of gives the
// same answer as the whole input.
func FuzzDetect(f *testing.F) {
	f.Add([]byte("10:15:02 SENT (0): <presence/>\n"), 10)
	f.Add([]byte("Nov 28 02:04:24 c2s1\tdebug\tRECV: <presence/>\n"), 20)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		whole := Detect(data)
		if cut < 0 || cut > len(data) {
			return
		}
		if f, sure := DetectPrefix(data[:cut], false); sure && f != whole {
			t.Fatalf("the first %d bytes are surely %v, the whole input is %v", cut, f, whole)
		}
	})
}

// FuzzErlangBinary: the decoder ends, and what it decodes from a printed string comes
// back when printed again.
func FuzzErlangBinary(f *testing.F) {
	f.Add([]byte(`<<"<a b=\"c\">\n</a>">>`))
	f.Add([]byte(`<<60,97,62,99,195,169>>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var b erlBinary
		for _, line := range bytes.Split(data, []byte("\n")) {
			if done, err := b.feed(line); done || err != nil {
				break
			}
		}
		if len(b.bytes()) > maxBinary+64<<10 {
			t.Fatalf("decoded %d bytes", len(b.bytes()))
		}
		// Round trip through the byte-list form, which any byte string has.
		var list []byte
		list = append(list, "<<"...)
		for i, c := range data {
			if i > 0 {
				list = append(list, ',')
			}
			list = append(list, []byte(itoa(int(c)))...)
		}
		list = append(list, ">>"...)
		var r erlBinary
		done, err := r.feed(list)
		if err != nil || !done || !bytes.Equal(r.bytes(), data) {
			t.Fatalf("byte list round trip: %v %v %q", done, err, r.bytes())
		}
	})
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
