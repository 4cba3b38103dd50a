package rules

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// TestExamples loads every example rule file and checks that it does what its comment says.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(files) < 6 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
	}
	load := func(name string) *Engine {
		e, err := Load("examples/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	e := load("block-registration.yaml")
	out := e.Apply(c2s(t, `<iq type='set' id='reg2'><query xmlns='jabber:iq:register'><username>Mr_Praline</username><password>x</password></query></iq>`))
	if out.Verdict != Reject || !strings.Contains(string(out.Inject[0].Raw), "<not-allowed ") || !strings.Contains(string(out.Inject[0].Raw), "id='reg2'") {
		t.Errorf("block-registration: %+v", out)
	}
	if out := e.Apply(c2s(t, `<iq type='get' id='reg1'><query xmlns='jabber:iq:register'/></iq>`)); out.Verdict != Forward {
		t.Errorf("block-registration blocks the form: %+v", out)
	}

	e = load("roster-error.yaml")
	out = e.Apply(c2s(t, `<iq type='get' id='ro1'><query xmlns='jabber:iq:roster'/></iq>`))
	if out.Verdict != Reject || out.Inject[0].Dir != inspect.ServerToClient ||
		!strings.Contains(string(out.Inject[0].Raw), "<error code='500' type='cancel'><internal-server-error") {
		t.Errorf("roster-error: %+v", out)
	}

	e = load("rewrite-word.yaml")
	out = e.Apply(s2c(t, `<message type='chat'><body>This Parrot is no more; parrots!</body></message>`))
	if string(out.Replaced) != `<message type='chat'><body>This budgie is no more; parrots!</body></message>` {
		t.Errorf("rewrite-word: %s", out.Replaced)
	}

	e = load("delay-presence.yaml")
	if out := e.Apply(s2c(t, `<presence from='a@b/c'/>`)); out.Delay != 2*time.Second {
		t.Errorf("delay-presence: %+v", out)
	}

	e = load("hide-noise.yaml")
	for _, in := range []Input{
		c2s(t, `<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`),
		s2c(t, `<iq type='result' id='p'/>`),
		s2c(t, " "),
	} {
		if out := e.Apply(in); !out.Hide {
			t.Errorf("hide-noise does not hide %q", in.Record.Raw)
		}
	}
	if out := e.Apply(s2c(t, `<iq type='result' id='r'><query xmlns='jabber:iq:roster'/></iq>`)); out.Hide {
		t.Errorf("hide-noise hides a roster result")
	}

	e = load("welcome.yaml")
	out = e.Apply(s2c(t, `<iq type='result' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/tel</jid></bind></iq>`))
	if len(out.Inject) != 1 || out.Inject[0].Dir != inspect.ServerToClient || out.Inject[0].Before ||
		!strings.HasPrefix(string(out.Inject[0].Raw), `<message type='chat' to='alice@localhost/tel' id='stanzascope-inject-1'>`) {
		t.Errorf("welcome: %+v", out)
	}
}
