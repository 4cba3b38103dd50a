package inspect

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseFrame(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		kind FrameKind
		name string
		cond Cond // "" when accepted
	}{
		{msg: "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0' xml:lang='en'/>", kind: FrameOpen, name: "open"},
		{msg: "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>", kind: FrameClose, name: "close"},
		{msg: "<message xmlns='jabber:client' to='a@b'><body>hi</body></message>", kind: FrameElement, name: "message"},
		{msg: "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>", kind: FrameElement, name: "auth"},
		{msg: "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>", kind: FrameElement, name: "features"},
		// Not one complete element.
		{msg: "", cond: CondNotWellFormed},
		{msg: " <presence/>", cond: CondNotWellFormed},
		{msg: "<presence/> ", cond: CondNotWellFormed},
		{msg: "<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>", cond: CondNotWellFormed},
		{msg: "<message xmlns='jabber:client'><body>cut", cond: CondNotWellFormed},
		{msg: "hello", cond: CondNotWellFormed},
		{msg: "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'>", cond: CondNotWellFormed},
		{msg: "<a><b></a>", cond: CondNotWellFormed},
		// A prefix the frame does not declare: the frame does not stand on its own.
		{msg: "<stream:features/>", cond: CondNotWellFormed},
		// Beyond the limits.
		{msg: "<message xmlns='jabber:client'><body>" + strings.Repeat("x", 2048) + "</body></message>", cond: CondPolicyViolation},
	} {
		f, err := ParseFrame([]byte(tc.msg), Limits{MaxStanza: 1024})
		if tc.cond != "" {
			var se *StreamError
			if !errors.As(err, &se) || se.Condition != tc.cond {
				t.Errorf("ParseFrame(%.60q) = %+v, %v; want stream error %s", tc.msg, f, err, tc.cond)
			}
			continue
		}
		if err != nil || f.Kind != tc.kind || f.Name != tc.name {
			t.Errorf("ParseFrame(%.60q) = %+v, %v; want kind %d name %s", tc.msg, f, err, tc.kind, tc.name)
		}
	}
	f, err := ParseFrame([]byte("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='ex&amp;ample' version='1.0' xml:lang='en'/>"), Limits{})
	if err != nil || f.To != "ex&ample" || f.Version != "1.0" || f.Lang != "en" {
		t.Fatalf("open attributes: %+v %v", f, err)
	}
	hdr := AppendHeaderOfOpen(nil, f)
	rd := NewReader(bytes.NewReader(hdr), Limits{})
	ev, err := rd.Next()
	if err != nil || ev.Kind != KindStreamOpen || ev.Header.To != "ex&ample" || ev.Header.Lang != "en" || ev.Header.ContentNS != NSClient {
		t.Fatalf("header of open %s: %+v %v", hdr, ev.Header, err)
	}
}

func TestFrameOfStream(t *testing.T) {
	hdrBytes := "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' id='abc' xmlns='jabber:client' from='example.com' version='1.0'>"
	open, h := FrameOfStream([]byte(hdrBytes), nil)
	if string(open) != "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.com' id='abc' version='1.0'/>" || h == nil || h.ID != "abc" {
		t.Fatalf("open = %s, %+v", open, h)
	}
	for _, tc := range []struct{ in, want string }{
		{"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
			"<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"},
		{"<message from='a@example.com' to='b@example.com'><body>hi</body></message>",
			"<message xmlns='jabber:client' from='a@example.com' to='b@example.com'><body>hi</body></message>"},
		{"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"},
		{"<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
			"<stream:error xmlns:stream='http://etherx.jabber.org/streams'><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"},
		{"</stream:stream>", CloseFrame},
		{" \n", ""},
	} {
		got, _ := FrameOfStream([]byte(tc.in), h)
		if string(got) != tc.want {
			t.Errorf("FrameOfStream(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
		if tc.want != "" {
			if _, err := ParseFrame(got, Limits{}); err != nil {
				t.Errorf("the frame of %s does not stand on its own: %v", tc.in, err)
			}
		}
	}
}

// FuzzParseFrame: ParseFrame never panics; a frame it accepts stays one frame when made to
// stand on its own again (the proxy's s2c translation), and the header of an <open/> it
// accepts reads back with the same attributes.
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>",
		"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
		"<message xmlns='jabber:client'><body>x</body></message>",
		"<presence/><presence/>",
		"<iq xmlns='jabber:client' type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>",
	} {
		f.Add([]byte(s))
	}
	reused := NewFrameParser(Limits{MaxStanza: 4096})
	reused.Parse([]byte("<presence xmlns='jabber:client'><status>before</status></presence>"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		fr, err := ParseFrame(msg, Limits{MaxStanza: 4096})
		// A parser that read frames before answers as a fresh one.
		fr2, err2 := reused.Parse(msg)
		if fr2 != fr || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("%q: fresh %+v, %v; reused %+v, %v", msg, fr, err, fr2, err2)
		}
		if err != nil {
			if AsStreamError(err) == nil {
				t.Fatalf("error is not a stream error: %v", err)
			}
			return
		}
		switch fr.Kind {
		case FrameElement:
			again, _ := FrameOfStream(msg, defaultHeader)
			if _, err := ParseFrame(again, Limits{MaxStanza: 8192}); err != nil {
				t.Fatalf("%q accepted, but its framed form %q is not: %v", msg, again, err)
			}
		case FrameOpen:
			rd := NewReader(bytes.NewReader(AppendHeaderOfOpen(nil, fr)), Limits{})
			ev, err := rd.Next()
			if err != nil || ev.Header.To != fr.To || ev.Header.Version != fr.Version {
				t.Fatalf("header of %q: %+v, %v", msg, ev.Header, err)
			}
		}
	})
}

// TestStreamOfFrame: the TCP form of a client's frames reads, with a Reader, as the stream
// they stand for; a bad frame is the stream error to send.
func TestStreamOfFrame(t *testing.T) {
	p := NewFrameParser(DefaultLimits)
	var stream []byte
	for _, msg := range []string{
		"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0' xml:lang='en'/>",
		"<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>hi</body></message>",
		"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
	} {
		tcp, _, err := p.StreamOfFrame([]byte(msg))
		if err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
		stream = append(stream, tcp...)
	}
	rd := NewReader(bytes.NewReader(stream), DefaultLimits)
	var kinds []Kind
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		kinds = append(kinds, ev.Kind)
		if ev.Kind == KindStreamOpen && (ev.Header.To != "localhost" || ev.Header.Lang != "en" || ev.Header.Version != "1.0") {
			t.Errorf("header %+v", ev.Header)
		}
	}
	if want := []Kind{KindStreamOpen, KindStanza, KindStreamClose}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v (stream %s)", kinds, want, stream)
	}
	for _, bad := range []string{"<a/><b/>", "hello", "<message><body>"} {
		if _, _, err := p.StreamOfFrame([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		} else if se, ok := err.(*StreamError); !ok || se.Condition != CondNotWellFormed {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if BinaryFrameError().Condition != CondNotWellFormed || OversizeFrameError().Condition != CondPolicyViolation {
		t.Error("conditions of the WebSocket-level errors")
	}
}
