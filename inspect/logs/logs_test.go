package logs

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The samples in testdata: slixmpp.log, prosody.log and ejabberd.log were written by the
// real programs (cmd/stanzascope's logs_peers_test.go makes such logs and compares them
// with the proxy's record of the same sessions); slixmpp-default.log is slixmpp.log in
// Python's default logging format; smack.log and smack-jul.log are written by hand from
// Smack's debugger sources (Smack needs Java libraries that are not available here).
var samples = []struct {
	file    string
	format  Format
	conns   int
	stanzas int
	times   bool // the log has times
}{
	{"slixmpp.log", Slixmpp, 1, 21, true},
	{"slixmpp-default.log", Slixmpp, 1, 21, false},
	{"prosody.log", Prosody, 2, 40, true},
	{"ejabberd.log", Ejabberd, 2, 48, true},
	{"smack.log", Smack, 2, 21, true},
	{"smack-jul.log", Smack, 1, 4, true},
}

func readAll(t testing.TB, data []byte, f Format, opt Options) ([]*inspect.Record, error) {
	t.Helper()
	var recs []*inspect.Record
	err := Read(bytes.NewReader(data), f, inspect.SinkFunc(func(r *inspect.Record) error {
		recs = append(recs, r)
		return nil
	}), opt)
	return recs, err
}

func TestSamples(t *testing.T) {
	for _, s := range samples {
		t.Run(s.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", s.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := Detect(data); got != s.format {
				t.Errorf("Detect: %v, want %v", got, s.format)
			}
			recs, err := readAll(t, data, s.format, Options{})
			if err != nil {
				t.Fatal(err)
			}
			conns, stanzas := map[uint64]bool{}, 0
			var last time.Time
			first := true
			for _, r := range recs {
				switch r.Kind {
				case inspect.KindError:
					t.Errorf("error record: %v", r.Err())
				case inspect.KindStanza:
					stanzas++
					conns[r.Conn.ID] = true
					if _, err := r.Element(); err != nil {
						t.Errorf("stanza does not parse: %v: %s", err, r.Raw)
					}
					// ejabberd logs several processes, each in its order.
					if s.times && (r.Time.IsZero() || !first && r.Time.Before(last) && s.format != Ejabberd) {
						t.Errorf("stanza time %v (after %v)", r.Time, last)
					}
					last, first = r.Time, false
				}
			}
			if len(conns) != s.conns || stanzas != s.stanzas {
				t.Errorf("%d connections, %d stanzas; want %d, %d", len(conns), stanzas, s.conns, s.stanzas)
			}
			var out bytes.Buffer
			js := inspect.NewJSON(&out, inspect.JSONOptions{})
			for _, r := range recs {
				if err := js.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			golden := filepath.Join("testdata", "golden", strings.TrimSuffix(s.file, ".log")+".jsonl")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("records differ from %s (go test -update rewrites it):\n%s", golden, firstDiff(out.String(), string(want)))
			}
		})
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, a, b)
		}
	}
	return ""
}

func TestDetect(t *testing.T) {
	cases := []struct {
		name, head string
		complete   bool
		want       Format
		sure       bool
	}{
		{"pcap", "\xd4\xc3\xb2\xa1\x02\x00", false, Pcap, true},
		{"pcapng", "\x0a\x0d\x0d\x0a", false, Pcap, true},
		{"json", "\n {\"kind\":", false, JSON, true},
		{"xml", "  <stream:stream", false, XML, true},
		{"short", "ab", false, Unknown, false},
		{"empty", "", true, Unknown, true},
		{"slixmpp", "2026-01-02 10:00:00,000 DEBUG    Loaded Plugin\n2026-01-02 10:00:00,001 DEBUG    SEND: <stream:stream>\n", false, Slixmpp, true},
		{"slixmpp default format", "DEBUG:slixmpp.xmlstream.xmlstream:RECV: <iq/>\n", false, Slixmpp, true},
		{"prosody", "Nov 28 02:04:24 c2s562933aaf160\tdebug\tRECV: <presence/>\n", false, Prosody, true},
		{"prosody console", "c2s562933aaf160     debug\tSEND: <presence/>\n", false, Prosody, true},
		{"prosody without stanzas yet", "Nov 28 02:04:15 portmanager\tdebug\tGathering certificates\n", false, Prosody, false},
		{"prosody without stanzas", "Nov 28 02:04:15 portmanager\tdebug\tGathering certificates\n", true, Prosody, true},
		{"ejabberd", "2026-11-28 02:06:55.584443+00:00 [notice] <0.488.0> (tcp|<0.488.0>) Received XML on stream = <<\"<a/>\">>\n", false, Ejabberd, true},
		{"ejabberd noise only", "2026-11-28 02:06:52.388139+00:00 [info] <0.331.0>@ejabberd_listener:init/4:160 Start accepting\n", true, Ejabberd, true},
		{"smack", "10:15:02 SENT (0): <stream:stream>\n", false, Smack, true},
		{"partial line waits", "10:15:02 SENT (0): <str", false, Unknown, false},
		{"plain text", "hello world\n", true, Unknown, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, sure := DetectPrefix([]byte(tc.head), tc.complete)
			if f != tc.want || sure != tc.sure {
				t.Errorf("DetectPrefix = %v, %v; want %v, %v", f, sure, tc.want, tc.sure)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, n := range Names() {
		f, ok := ParseFormat(n)
		if !ok || f.String() != n {
			t.Errorf("ParseFormat(%q) = %v, %v", n, f, ok)
		}
	}
	if _, ok := ParseFormat("nope"); ok {
		t.Error("ParseFormat accepted nope")
	}
	if f, _ := ParseFormat("pcapng"); f != Pcap {
		t.Error("pcapng is not Pcap")
	}
}

// errorLines returns the lines named by the error records.
func errorLines(t *testing.T, recs []*inspect.Record) []int {
	t.Helper()
	var lines []int
	for _, r := range recs {
		if r.Kind != inspect.KindError {
			continue
		}
		var le *LineError
		if !errors.As(r.Err(), &le) {
			t.Fatalf("error record without a line: %v", r.Err())
		}
		lines = append(lines, le.Line)
	}
	return lines
}

func stanzaNames(recs []*inspect.Record) string {
	var names []string
	for _, r := range recs {
		if r.Kind == inspect.KindStanza {
			names = append(names, r.Name+"/"+r.Dir.String())
		}
	}
	return strings.Join(names, " ")
}

// TestDamagedLines: a damaged line is reported with its number, and reading goes on with
// the next line, in every format.
func TestDamagedLines(t *testing.T) {
	cases := []struct {
		name   string
		format Format
		log    string
		lines  []int
		want   string
	}{
		{"slixmpp bad xml", Slixmpp, "" +
			"2026-01-02 10:00:00,000 DEBUG    SEND: <stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>\n" +
			"2026-01-02 10:00:00,001 DEBUG    SEND: <presence><show>away</presence>\n" +
			"2026-01-02 10:00:00,002 DEBUG    SEND: <message><body>hi</body></message>\n",
			[]int{2}, "message/c2s"},
		{"slixmpp element cut short", Slixmpp, "" +
			"2026-01-02 10:00:00,000 DEBUG    SEND: <presence><show>away\n" +
			"2026-01-02 10:00:00,001 DEBUG    SEND: <message><body>hi</body></message>\n" +
			"2026-01-02 10:00:00,002 DEBUG    RECV: <iq type='result' id='1'/>\n",
			[]int{1}, "message/c2s iq/s2c"},
		{"prosody restricted xml", Prosody, "" +
			"Nov 28 02:04:24 c2s1\tdebug\tRECV: <presence/>\n" +
			"Nov 28 02:04:24 c2s1\tdebug\tRECV: <message><!-- comment --></message>\n" +
			"Nov 28 02:04:24 c2s1\tdebug\tRECV: <iq type='get' id='2'/>\n" +
			"Nov 28 02:04:24 c2s2\tdebug\tSEND: <presence/>\n",
			[]int{2}, "presence/c2s iq/c2s presence/s2c"},
		{"ejabberd bad binary", Ejabberd, "" +
			"2026-11-28 02:06:55.000000+00:00 [notice] <0.1.0> (tcp|<0.1.0>) Received XML on stream = <<\"<presence/>\">>\n" +
			"2026-11-28 02:06:55.000001+00:00 [notice] <0.1.0> (tcp|<0.1.0>) Received XML on stream = <<60,999>>\n" +
			"2026-11-28 02:06:55.000002+00:00 [notice] <0.1.0> (tcp|<0.1.0>) Send XML on stream = <<\"<iq type='result' id='x'/>\">>\n",
			[]int{2}, "presence/c2s iq/s2c"},
		{"ejabberd binary without end", Ejabberd, "" +
			"2026-11-28 02:06:55.000000+00:00 [notice] <0.1.0> (tcp|<0.1.0>) Received XML on stream = <<60,112,114,\n" +
			"2026-11-28 02:06:55.000001+00:00 [notice] <0.1.0> (tcp|<0.1.0>) Send XML on stream = <<\"<iq type='result' id='x'/>\">>\n",
			[]int{1}, "iq/s2c"},
		{"smack bad chunk", Smack, "" +
			"10:15:02 SENT (0): <presence/>\n" +
			"10:15:02 SENT (0): <message></iq>\n" +
			"10:15:02 SENT (0): <iq type='get' id='3'/>\n",
			[]int{2}, "presence/c2s iq/c2s"},
		{"smack log ends inside a stanza", Smack, "" +
			"10:15:02 RECV (0): <message><body>hi\n",
			[]int{1}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := readAll(t, []byte(tc.log), tc.format, Options{})
			var de *DamagedError
			if !errors.As(err, &de) || de.Lines != len(tc.lines) || de.First != tc.lines[0] {
				t.Errorf("Read returned %v, want a DamagedError for lines %v", err, tc.lines)
			}
			if got := errorLines(t, recs); fmt.Sprint(got) != fmt.Sprint(tc.lines) {
				t.Errorf("error records name lines %v, want %v", got, tc.lines)
			}
			if got := stanzaNames(recs); got != tc.want {
				t.Errorf("stanzas %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLongLine(t *testing.T) {
	log := "10:15:02 SENT (0): <presence/>\n10:15:02 SENT (0): <message><body>" + strings.Repeat("x", 200<<10) +
		"</body></message>\n10:15:03 SENT (0): <iq type='get' id='1'/>\n"
	recs, err := readAll(t, []byte(log), Smack, Options{MaxLine: 100 << 10})
	var de *DamagedError
	if !errors.As(err, &de) || de.First != 2 {
		t.Fatalf("Read: %v", err)
	}
	if got := stanzaNames(recs); got != "presence/c2s iq/c2s" {
		t.Errorf("stanzas %q", got)
	}
}

// TestStanzaLimit: the reader's limits apply to each session as on a live connection.
func TestStanzaLimit(t *testing.T) {
	log := "10:15:02 SENT (0): <message><body>" + strings.Repeat("x", 5000) + "</body></message>\n10:15:03 SENT (0): <presence/>\n"
	recs, _ := readAll(t, []byte(log), Smack, Options{Limits: inspect.Limits{MaxStanza: 1000}})
	var cond inspect.Cond
	for _, r := range recs {
		if se := inspect.AsStreamError(r.Err()); se != nil {
			cond = se.Condition
		}
	}
	if cond != inspect.CondPolicyViolation || stanzaNames(recs) != "presence/c2s" {
		t.Errorf("condition %q, stanzas %q", cond, stanzaNames(recs))
	}
}

// TestMaxSessions: a log that opens more sessions than allowed ends the least recent one.
func TestMaxSessions(t *testing.T) {
	var b strings.Builder
	for i := range 5 {
		fmt.Fprintf(&b, "Nov 28 02:04:24 c2s%d\tdebug\tRECV: <presence id='%d'/>\n", i, i)
	}
	b.WriteString("Nov 28 02:04:25 c2s0\tdebug\tRECV: <presence id='again'/>\n")
	recs, err := readAll(t, []byte(b.String()), Prosody, Options{MaxSessions: 3})
	if err != nil {
		t.Fatal(err)
	}
	opens, closes := 0, 0
	for _, r := range recs {
		switch r.Kind {
		case inspect.KindConnOpen:
			opens++
		case inspect.KindConnClose:
			closes++
			if !strings.Contains(r.Note(), "more than 3 sessions") {
				t.Errorf("close note %q", r.Note())
			}
		}
	}
	// c2s0..c2s4 open 5 connections, 2 of them push out c2s0 and c2s1; c2s0 comes back as
	// a sixth connection and pushes out c2s2.
	if opens != 6 || closes != 3 {
		t.Errorf("%d opens, %d closes", opens, closes)
	}
	if last := recs[len(recs)-1]; last.Conn.ID != 6 || last.Attr("id") != "again" {
		t.Errorf("the last stanza is on connection %d: %s", last.Conn.ID, last.Raw)
	}
}

// TestSessionsInterleaved: Prosody's sessions go to their own connections, stanzas
// spread over continuation lines included.
func TestSessionsInterleaved(t *testing.T) {
	log := "" +
		"Nov 28 02:04:24 c2sA\tinfo\tClient connected\n" +
		"Nov 28 02:04:24 c2sB\tinfo\tClient connected\n" +
		"Nov 28 02:04:24 c2sA\tdebug\tRECV: <message to='b@localhost'><body>one\n" +
		"\ttwo</body></message>\n" +
		"Nov 28 02:04:24 c2sB\tdebug\tSEND: <message from='a@localhost'><body>one\n" +
		"\ttwo</body></message>\n" +
		"Nov 28 02:04:25 c2sA\tinfo\tClient disconnected: closed\n" +
		"Nov 28 02:04:25 s2sout9\tdebug\tSEND: <db:result xmlns:db='jabber:server:dialback' from='a' to='b'>key</db:result>\n"
	recs, err := readAll(t, []byte(log), Prosody, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		s := fmt.Sprintf("%d %v %v", r.Conn.ID, r.Kind, r.Dir)
		if r.Kind == inspect.KindStanza {
			e, err := r.Element()
			if err != nil {
				t.Fatal(err)
			}
			text := e.Text()
			if b := e.Child(inspect.NSClient, "body"); b != nil {
				text = b.Text()
			}
			s += " " + e.Space + " " + e.Local + " " + strings.ReplaceAll(text, "\n", "|")
		}
		got = append(got, s)
	}
	want := []string{
		"1 conn-open ", "2 conn-open ",
		"1 stanza c2s jabber:client message one|two",
		"2 stanza s2c jabber:client message one|two",
		"1 conn-close ",
		"3 conn-open ",
		"3 stanza c2s jabber:server:dialback result key",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestErlangBinary(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  string
		err   bool
	}{
		{"string", []string{`<<"<a b=\"c\">\n</a>">>`}, "<a b=\"c\">\n</a>", false},
		{"escapes", []string{`<<"\t\s\e\d\\\x41\x{263A}\101\^G">>`}, "\t \x1b\x7f\\A☺A\x07", false},
		{"bytes over lines", []string{`<<60,97,62,`, `   99,195,169,`, `   60,47,97,62>>`}, "<a>cé</a>", false},
		{"folded strings", []string{`<<"<a>"`, `  "</a>">>`}, "<a></a>", false},
		{"utf8", []string{`<<"café"/utf8>>`}, "café", false},
		{"empty", []string{`<<>>`}, "", false},
		{"no start", []string{`"<a/>"`}, "", true},
		{"byte too big", []string{`<<256>>`}, "", true},
		{"shortened", []string{`<<60,97,...>>`}, "", true},
		{"string cut", []string{`<<"abc`}, "", true},
		{"bad hex", []string{`<<"\xZZ">>`}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b erlBinary
			var done bool
			var err error
			for _, l := range tc.lines {
				if done, err = b.feed([]byte(l)); err != nil {
					break
				}
			}
			if tc.err {
				if err == nil {
					t.Errorf("no error; got %q", b.bytes())
				}
				return
			}
			if err != nil || !done || string(b.bytes()) != tc.want {
				t.Errorf("got %q, done %v, err %v; want %q", b.bytes(), done, err, tc.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	cases := []struct {
		in   string
		want string
		n    int
	}{
		{"2026-11-28 02:04:27,620 DEBUG", "2026-11-28T02:04:27.62Z", 23},
		{"2026-11-28 02:06:55.584443+00:00 [notice]", "2026-11-28T02:06:55.584443Z", 32},
		{"2026-11-28 02:06:55.5+02:00 x", "2026-11-28T02:06:55.5+02:00", 27},
		{"2026-11-28T02:06:55Z x", "2026-11-28T02:06:55Z", 20},
		{"Nov 28 02:04:24 c2s", "0000-11-28T02:04:24Z", 15},
		{"Feb  3 12:00:00 c2s", "0000-02-03T12:00:00Z", 15},
		{"10:15:02 SENT", "0000-01-01T10:15:02Z", 8},
		{"10:15:02.250 SENT", "0000-01-01T10:15:02.25Z", 12},
	}
	for _, tc := range cases {
		got, n, ok := parseTime([]byte(tc.in))
		if !ok || got.Format(time.RFC3339Nano) != tc.want || n != tc.n {
			t.Errorf("parseTime(%q) = %v, %d, %v; want %s, %d", tc.in, got.Format(time.RFC3339Nano), n, ok, tc.want, tc.n)
		}
	}
	for _, bad := range []string{"", "DEBUG", "25:00:00 x", "2026-13-01 00:00:00", "Foo 28 02:04:24"} {
		if _, _, ok := parseTime([]byte(bad)); ok {
			t.Errorf("parseTime(%q) accepted", bad)
		}
	}
	// Midnight passes in a log with times of day only.
	var c clock
	a := c.at(time.Date(0, 1, 1, 23, 59, 0, 0, time.UTC), true)
	b := c.at(time.Date(0, 1, 1, 0, 1, 0, 0, time.UTC), true)
	if b.Sub(a) != 2*time.Minute {
		t.Errorf("after midnight: %v then %v", a, b)
	}
}

// TestSlixmppHeaderNote: the namespace declarations slixmpp leaves out of the server's
// header are added, and a note says so once.
func TestSlixmppHeaderNote(t *testing.T) {
	log := "" +
		"DEBUG    SEND: <stream:stream to='localhost' xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' version='1.0'>\n" +
		"DEBUG    RECV: <stream:stream version=\"1.0\" id=\"1\" from=\"localhost\">\n" +
		"DEBUG    RECV: <stream:features xmlns=\"http://etherx.jabber.org/streams\"><bind xmlns=\"urn:ietf:params:xml:ns:xmpp-bind\" /></stream:features>\n" +
		"DEBUG    RECV: <stream:stream version=\"1.0\" id=\"2\" from=\"localhost\">\n" +
		"DEBUG    RECV: <message><body>x</body></message>\n"
	recs, err := readAll(t, []byte(log), Slixmpp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	notes, opens := 0, 0
	for _, r := range recs {
		switch r.Kind {
		case inspect.KindNote:
			notes++
		case inspect.KindStreamOpen:
			opens++
		case inspect.KindStanza:
			if r.NS != inspect.NSStreams && r.NS != inspect.NSClient {
				t.Errorf("%s in namespace %q", r.Name, r.NS)
			}
		}
	}
	if notes != 1 || opens != 3 || stanzaNames(recs) != "features/s2c message/s2c" {
		t.Errorf("%d notes, %d opens, stanzas %q", notes, opens, stanzaNames(recs))
	}
}

func TestProsodyTopTagsOnly(t *testing.T) {
	log := "Nov 28 02:04:24 c2s1\tdebug\tSending[c2s]: <presence id='x'>\nNov 28 02:04:24 c2s1\tdebug\tReceived[c2s]: <iq type='get'>\n"
	recs, err := readAll(t, []byte(log), Prosody, Options{})
	if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Note(), "mod_stanza_debug") {
		t.Fatalf("%v: %v", err, recs)
	}
}

func TestSinkError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := Read(strings.NewReader("10:15:02 SENT (0): <presence/><presence/><presence/>\n"), Smack, inspect.SinkFunc(func(*inspect.Record) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	}), Options{})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("Read returned %v after %d records", err, n)
	}
}
