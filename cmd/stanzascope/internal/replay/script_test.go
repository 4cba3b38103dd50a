package replay

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestExtractSession(t *testing.T) {
	s := scriptOf(t, session(
		"s2c <message type='headline'><body>welcome</body></message>",
		"c2s <iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
		"s2c <iq type='result' id='r1' to='alice@localhost/rec'><query xmlns='jabber:iq:roster'/></iq>",
		"c2s <presence/>",
		"c2s <message to='alice@localhost/rec' type='chat'><body>hi</body></message>",
		"s2c <presence from='alice@localhost/rec'/>",
		"s2c <message from='alice@localhost/rec' type='chat'><body>hi</body></message>",
		"s2c <iq type='get' id='ping1' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
		"c2s <iq type='result' id='ping1' to='localhost'/>",
		"c2s <iq type='set' id='r2'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>",
		"s2c <iq type='set' id='push1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='none'/></query></iq>",
		"s2c <iq type='result' id='r2'/>",
		"c2s <iq type='result' id='push1'/>",
		"c2s </stream:stream>",
		"s2c </stream:stream>",
	)...)
	if s.JID.String() != "alice@localhost/rec" || s.StreamID != "s2" || s.Resource != "rec" || s.Mechanism != "SCRAM-SHA-1" || s.Pings != 1 || s.RegistersUser {
		t.Fatalf("script %+v", s)
	}
	type want struct {
		kind    StepKind
		phase   Phase
		desc    string
		answer  string
		window  []string
		request bool
		server  string
	}
	wants := []want{
		{kind: StepLogin, phase: PreBind, desc: "login", window: []string{"message headline"}},
		{phase: Session, desc: "iq get (query jabber:iq:roster)", answer: "iq result (query jabber:iq:roster)", request: true},
		{phase: Session, desc: "presence available"},
		{phase: Session, desc: "message chat to alice@localhost/rec", window: []string{"presence available", "message chat"}},
		{phase: Session, desc: "iq set (query jabber:iq:roster)", answer: "iq result", request: true, window: []string{"iq set (query jabber:iq:roster)"}},
		{phase: Session, desc: "iq result", server: "push1"},
		{kind: StepClose, phase: Session, desc: "</stream:stream>", window: []string{"stream close"}},
	}
	if len(s.Steps) != len(wants) {
		for _, st := range s.Steps {
			t.Logf("step %s", st.Describe())
		}
		t.Fatalf("%d steps, want %d", len(s.Steps), len(wants))
	}
	for i, w := range wants {
		st := s.Steps[i]
		var answer string
		if st.Answer != nil {
			answer = st.Answer.Sig.String()
		}
		var window []string
		for _, e := range st.Window {
			window = append(window, e.Sig.String())
		}
		if st.Kind != w.kind || st.Phase != w.phase || st.Describe() != w.desc || answer != w.answer ||
			!slices.Equal(window, w.window) || st.Request != w.request || st.ServerID != w.server {
			t.Errorf("step %d: %v %v %q answer %q window %q request %v server %q; want %+v",
				i, st.Kind, st.Phase, st.Describe(), answer, window, st.Request, st.ServerID, w)
		}
	}
	if id := s.Steps[4].Window[0].ID; id != "push1" {
		t.Errorf("server request id %q", id)
	}
}

// A log may number the server's closing tag before the client's that caused it: it is
// still the answer to the client's.
func TestExtractCrossingCloses(t *testing.T) {
	s := scriptOf(t, session(
		"c2s <iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
		"s2c <iq type='result' id='p'/>",
		"s2c </stream:stream>",
		"c2s </stream:stream>",
	)...)
	ping, end := s.Steps[1], s.Steps[2]
	if len(ping.Window) != 0 || end.Kind != StepClose || len(end.Window) != 1 || end.Window[0].Sig != closeSig {
		t.Fatalf("ping window %+v, close step %+v", ping.Window, end)
	}
}

// The log numbers an answer before the stanza it answers (the proxy's two directions
// interleave); the times say which came first.
func TestExtractCausalOrder(t *testing.T) {
	log := jsonLog(t, session(
		"c2s <presence/>",
		"s2c <message from='alice@localhost/rec' type='chat'><body>hi</body></message>",
		"c2s <message to='alice@localhost/rec' type='chat'><body>hi</body></message>",
	)...)
	// Give the echo (seq 13) a time after the message (seq 14).
	log = strings.Replace(log, `"seq":13,"time":"2026-01-02T03:04:05.013Z"`, `"seq":13,"time":"2026-01-02T03:04:05.0145Z"`, 1)
	_, s := logScript(t, log)
	if pres, msg := s.Steps[1], s.Steps[2]; len(pres.Window) != 0 || len(msg.Window) != 1 {
		t.Fatalf("presence window %d, message window %d: want the echo after the message", len(pres.Window), len(msg.Window))
	}
}

func TestExtractRegistration(t *testing.T) {
	pre := []string{clientHeader, serverHeader,
		"s2c <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
		"c2s <iq type='get' id='g'><query xmlns='jabber:iq:register'/></iq>",
		"s2c <iq type='result' id='g'><query xmlns='jabber:iq:register'><username/><password/></query></iq>",
	}
	tests := []struct {
		name   string
		set    string
		answer string
		want   bool
	}{
		{"own account", "<iq type='set' id='s'><query xmlns='jabber:iq:register'><username>Alice</username><password>[redacted]</password></query></iq>", "<iq type='result' id='s'/>", true},
		{"another account", "<iq type='set' id='s'><query xmlns='jabber:iq:register'><username>bob</username><password>[redacted]</password></query></iq>", "<iq type='result' id='s'/>", false},
		{"refused", "<iq type='set' id='s'><query xmlns='jabber:iq:register'><username>alice</username><password>[redacted]</password></query></iq>",
			"<iq type='error' id='s'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := append(append([]string(nil), pre...), "c2s "+tt.set, "s2c "+tt.answer)
			lines = append(lines, loginLines[3:]...)
			s := scriptOf(t, lines...)
			if s.RegistersUser != tt.want {
				t.Errorf("RegistersUser = %v, want %v", s.RegistersUser, tt.want)
			}
			if len(s.Steps) != 3 || s.Steps[0].Phase != PreAuth || s.Steps[1].Phase != PreAuth || s.Steps[2].Kind != StepLogin {
				t.Errorf("steps: %+v", s.Steps)
			}
		})
	}
}

func TestExtractLegacyLogin(t *testing.T) {
	s := scriptOf(t,
		"c2s <stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
		"s2c <?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' id='old' xmlns='jabber:client' from='localhost'>",
		"c2s <iq id='a0' type='get'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username></query></iq>",
		"s2c <iq id='a0' type='result'><query xmlns='jabber:iq:auth'><username/><password/><resource/></query></iq>",
		"c2s <iq id='a1' type='set'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username><password>[redacted]</password><resource>telnet</resource></query></iq>",
		"s2c <iq id='a1' type='result'/>",
		"c2s <iq id='roster1' type='get'><query xmlns='jabber:iq:roster'/></iq>",
		"s2c <iq id='roster1' type='result'><query xmlns='jabber:iq:roster'/></iq>",
	)
	if s.JID.String() != "mr_praline@localhost/telnet" || s.Mechanism != "" || s.StreamID != "old" {
		t.Fatalf("script %+v", s)
	}
	if len(s.Steps) != 2 || s.Steps[0].Kind != StepLogin || s.Steps[1].Answer == nil {
		t.Fatalf("steps %+v", s.Steps)
	}
}

func TestExtractVerdictsAndOrigins(t *testing.T) {
	log := jsonLog(t, session(
		"c2s <message to='bob@localhost'><body>one</body></message>",
		"c2s <iq type='get' id='v'><query xmlns='jabber:iq:version'/></iq>",
		"s2c <iq type='result' id='v'><query xmlns='jabber:iq:version'><name>x</name></query></iq>",
	)...)
	// A rule dropped the message (the server never got it); the iq was sent by the proxy
	// (it reached the server all the same); the proxy wrote an error to the client (not the
	// server's); a rule rewrote a message of the server (the original is what it sent).
	log = strings.Replace(log, `<body>one</body></message>"`, `<body>one</body></message>","verdict":"dropped"`, 1)
	log = strings.Replace(log, `"kind":"stanza","seq":13,`, `"kind":"stanza","seq":13,"origin":"proxy",`, 1)
	log += `{"conn":1,"dir":"s2c","kind":"stanza","origin":"proxy","xml":"<message type='error'/>"}` + "\n"
	log += `{"conn":1,"dir":"s2c","kind":"stanza","xml":"<message type='chat'><body>rewritten</body></message>","original":"<message type='normal'/>"}` + "\n"
	_, s := logScript(t, log)
	if len(s.Steps) != 2 {
		t.Fatalf("%d steps, want the login and the iq (the dropped message never reached the server)", len(s.Steps))
	}
	iq := s.Steps[1]
	if iq.Answer == nil || len(iq.Window) != 1 || iq.Window[0].Sig.Type != "normal" {
		t.Fatalf("iq step: answer %+v window %+v", iq.Answer, iq.Window)
	}
}

// A write the proxy recorded and then failed to make (a note of kind unwritten after its
// records) did not reach the server: the replay does not send it.
func TestExtractUnwritten(t *testing.T) {
	log := jsonLog(t, session(
		"c2s <message to='bob@localhost'><body>one</body></message>",
		"c2s <message to='bob@localhost'><body>two</body></message>",
	)...)
	// The second message and the whitespace after it did not go: two records.
	log += `{"conn":1,"dir":"c2s","kind":"whitespace","xml":"\n"}` + "\n"
	log += `{"conn":1,"dir":"c2s","kind":"note","origin":"proxy","note":"not delivered","milestone":{"kind":"unwritten","leg":"upstream","unwritten_bytes":20,"unwritten_records":2}}` + "\n"
	l, s := logScript(t, log)
	if len(s.Steps) != 2 || !strings.Contains(string(s.Steps[1].Raw), "one") {
		t.Fatalf("%d steps (%+v), want the login and the first message only", len(s.Steps), s.Steps)
	}
	if c := l.Connections(); len(c) != 1 || c[0].JID == "" {
		t.Errorf("connections %+v", c)
	}
	if again, err := l.Script(0); err != nil || len(again.Steps) != 2 {
		t.Fatalf("extracted again: %v, %+v", err, again)
	}
}

func TestScriptErrors(t *testing.T) {
	notLogged := jsonLog(t, clientHeader, serverHeader, "c2s <iq type='get' id='x'><query xmlns='jabber:iq:register'/></iq>")
	tests := []struct {
		name string
		log  string
		conn uint64
		want error
	}{
		{"no login at all", notLogged, 0, ErrNoLogin},
		{"that one did not log in", notLogged, 1, ErrNotLogged},
		{"no such connection", notLogged, 7, ErrNoConn},
		{"two runs in one file", jsonLog(t, session()...) + jsonLog(t, session()...), 1, ErrManyConns},
		{"server stream", jsonLog(t, "c2s <stream:stream to='x' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"), 1, errNotClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ReadLog(strings.NewReader(tt.log), 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Script(tt.conn); !errors.Is(err, tt.want) {
				t.Errorf("Script(%d) = %v, want %v", tt.conn, err, tt.want)
			}
		})
	}
	if _, err := ReadLog(strings.NewReader("{\"kind\":\"stanza\",\"xml\":\"<a/>\"}\n"), 0); !errors.Is(err, errNotStanzas) {
		t.Errorf("log without connections: %v", err)
	}
	if _, err := ReadLog(strings.NewReader("not json\n"), 0); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("broken log: %v", err)
	}
}

func TestAccounts(t *testing.T) {
	s := scriptOf(t, session(
		"c2s <message to='bob@localhost'><body>one</body></message>",
		"c2s <message to='Nobody@localhost'><body>two</body></message>",
		"s2c <message type='error' from='nobody@localhost'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
		"c2s <presence to='carol@elsewhere' type='subscribe'/>",
		"c2s <message to='alice@localhost'><body>me</body></message>",
		"c2s <message to='bob@localhost/phone'><body>again</body></message>",
	)...)
	if got := s.Accounts(); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("Accounts = %q, want [bob]", got)
	}
}

func TestConnectionsOfRealLog(t *testing.T) {
	f, err := os.Open("testdata/slixmpp-switch.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := ReadLog(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	cs := l.Connections()
	if len(cs) != 1 || cs[0].JID != "alice@localhost/rec" || cs[0].Stanzas != 14 || !strings.HasPrefix(cs[0].String(), "conn 1  alice@localhost/rec  14 client stanzas") {
		t.Fatalf("connections %+v", cs)
	}
	s, err := l.Script(0)
	if err != nil {
		t.Fatal(err)
	}
	if !s.RegistersUser || s.Resource != "rec" || len(s.Steps) != 12 {
		t.Fatalf("script: registers %v resource %q, %d steps", s.RegistersUser, s.Resource, len(s.Steps))
	}
}
