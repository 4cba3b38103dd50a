package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/stanzascope/stanzascope/switch/switchtest"
)

func TestMetricsFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"proxy", "--pprof"},
		{"proxy", "--metrics", "0.0.0.0:9222", "--pprof"},
		{"proxy", "--metrics", ":9222", "--pprof"},
		{"proxy", "--metrics", "192.0.2.1:9222", "--pprof"},
		{"--metrics", "[::]:9222", "--pprof"},
		{"proxy", "--metrics", "nonsense"},
		{"proxy", "--metrics", "127.0.0.1:notaport"},
		{"switch", "--pprof"},
		{"switch", "--metrics", "10.0.0.1:9222", "--pprof"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
		if strings.Contains(strings.Join(args, " "), "pprof") && strings.Contains(strings.Join(args, " "), "9222") &&
			!strings.Contains(errb.String(), "loopback") {
			t.Errorf("%v: the error does not say why: %s", args, errb.String())
		}
	}
}

// running is stanzascope started by startWith, with what it printed.
type running struct {
	found  map[string]string // the first submatch of each pattern
	stderr *syncBuffer
	stop   func() int
}

// startWith runs the command with args until the test ends, and waits until every
// pattern has matched a line of its standard error.
func startWith(t *testing.T, patterns map[string]*regexp.Regexp, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &running{found: map[string]string{}, stderr: &syncBuffer{}}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, args, io.Discard, pw)
		pw.Close()
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(30 * time.Second)
	for len(r.found) < len(patterns) {
		var l string
		var ok bool
		select {
		case l, ok = <-lines:
		case <-timeout:
		}
		if !ok {
			cancel()
			t.Fatalf("stanzascope did not print what was expected:\n%s", r.stderr.String())
		}
		r.stderr.Write([]byte(l + "\n"))
		for name, re := range patterns {
			if m := re.FindStringSubmatch(l); m != nil && r.found[name] == "" {
				r.found[name] = m[1]
			}
		}
	}
	go func() {
		for l := range lines {
			r.stderr.Write([]byte(l + "\n"))
		}
	}()
	var once sync.Once
	var exit int
	r.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case exit = <-code:
			case <-time.After(20 * time.Second):
				t.Errorf("stanzascope did not stop:\n%s", r.stderr.String())
				exit = -1
			}
		})
		return exit
	}
	t.Cleanup(func() { r.stop() })
	return r
}

var metricsRE = regexp.MustCompile(`metrics on (http://\S+)`)

// scrape is one read of /metrics: every sample by its series, written as the text format
// writes it (labels sorted by name).
type scrape struct {
	body    string
	samples map[string]float64
}

func getScrape(t *testing.T, url string, header ...string) scrape {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s, %v\n%s", url, resp.Status, err, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	s := scrape{body: string(body), samples: map[string]float64{}}
	for _, line := range strings.Split(s.body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("sample line %q", line)
		}
		s.samples[line[:i]] = v
	}
	return s
}

// series names a sample: name and label pairs (in any order).
func series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	var pairs []string
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, labels[i]+`="`+labels[i+1]+`"`)
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// delta returns how much a series moved from before to s; a series s lacks is an error.
func (s scrape) delta(t *testing.T, before scrape, name string, labels ...string) float64 {
	t.Helper()
	k := series(name, labels...)
	v, ok := s.samples[k]
	if !ok {
		t.Fatalf("no series %s in the scrape:\n%s", k, s.body)
	}
	return v - before.samples[k]
}

// waitScrape scrapes until ok says the scrape is the one awaited (30 s at most: the
// records behind the figures may queue for seconds on a busy machine under -race).
func waitScrape(t *testing.T, url, what string, ok func(scrape) bool) scrape {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := getScrape(t, url)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s; the last scrape:\n%s", what, s.body)
		}
		time.Sleep(20 * time.Millisecond) // polling the counters, with a deadline
	}
}

const metricsPassword = "Spam-spam-spam-42"

// TestMetricsProxy runs the default mode (the proxy in front of the embedded switch) with
// --metrics and --pprof, and a known session: two accounts registered by hand and one
// legacy login over telnet, two mellium logins (SCRAM-SHA-256 and SCRAM-SHA-1 after
// STARTTLS) and one that fails, and three chat messages. Every counter moves by exactly
// what happened, every connection is open while open and closed after, and no JID
// appears anywhere in the scrape. A rule that tags chat counts its matches.
func TestMetricsProxy(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "session.jsonl")
	rulesPath := filepath.Join(dir, "rules.yaml")
	rules := "rules:\n  - name: tag-chat\n    when: {direction: client-to-server, element: message, type: chat}\n    do: [tag: chat]\n"
	if err := os.WriteFile(rulesPath, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startWith(t, map[string]*regexp.Regexp{"metrics": metricsRE, "xmpp": listeningRE, "ca": caRE, "web": webURLRE},
		"--listen", "127.0.0.1:0", "--ca-dir", dir+"/ca", "--db", dir+"/db/switch.db", "--format", "json", "--log", logPath,
		"--web", "127.0.0.1:0", "--web-token", "metrics-token-42", "--metrics", "127.0.0.1:0", "--pprof", "--rules", rulesPath)
	url := in.found["metrics"]
	before := getScrape(t, url)

	// By hand, over telnet: a pre-1.0 stream, two registrations, a legacy login.
	reg := dialTelnet(t, in.found["xmpp"])
	reg.say("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", "<stream:stream")
	reg.say("<iq id='r1' type='set'><query xmlns='jabber:iq:register'><username>juliet</username><password>"+metricsPassword+"</password></query></iq>", "'r1'")
	reg.say("</stream:stream>", "</stream:stream>")
	tn := dialTelnet(t, in.found["xmpp"])
	tn.say("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", "<stream:stream")
	tn.say("<iq id='r2' type='set'><query xmlns='jabber:iq:register'><username>romeo</username><password>"+metricsPassword+"</password></query></iq>", "'r2'")
	tn.say("<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>romeo</username><password>"+metricsPassword+"</password><resource>telnet</resource></query></iq>", "'auth1'")
	tn.say("</stream:stream>", "</stream:stream>")

	// mellium, through the proxy's STARTTLS: two logins and one with a wrong password.
	pem, err := os.ReadFile(in.found["ca"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	login := func(user, pass string, mech sasl.Mechanism) (*xmpp.Session, error) {
		conn, err := net.Dial("tcp", in.found["xmpp"])
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := xmpp.NewClientSession(ctx, jid.MustParse(user+"@localhost"), conn,
			xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: roots}), xmpp.SASL("", pass, mech), xmpp.BindResource())
		if err != nil {
			conn.Close()
		}
		return s, err
	}
	if s, err := login("juliet", "wrong password", sasl.ScramSha256); err == nil {
		s.Close()
		t.Fatal("a wrong password logged in")
	}
	conn, err := net.Dial("tcp", in.found["xmpp"])
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{ServerName: "localhost", RootCAs: roots}
	juliet := switchtest.Login(t, conn, "juliet@localhost", xmpp.StartTLS(tlsCfg), xmpp.SASL("", metricsPassword, sasl.ScramSha256), xmpp.BindResource())
	if conn, err = net.Dial("tcp", in.found["xmpp"]); err != nil {
		t.Fatal(err)
	}
	romeo := switchtest.Login(t, conn, "romeo@localhost", xmpp.StartTLS(tlsCfg), xmpp.SASL("", metricsPassword, sasl.ScramSha1), xmpp.BindResource())
	for i := range 3 {
		juliet.Chat(romeo.JID(), fmt.Sprintf("wherefore art thou %d", i))
		romeo.WaitFor(fmt.Sprintf("wherefore art thou %d", i))
	}
	// Every figure below comes from records that reach the metrics output on their own
	// time (the failed login's close, the telnet connections' closes may come after the
	// messages): wait until all of them are there, then check that each is exact.
	type want struct {
		labels  []string
		want    float64
		counter bool // a total that must not move once the traffic is over
	}
	wants := []want{
		{[]string{"stanzascope_stanzas_total", "direction", "c2s", "element", "message"}, 3, true},
		{[]string{"stanzascope_stanzas_total", "direction", "s2c", "element", "message"}, 3, true},
		{[]string{"stanzascope_connections_open", "transport", "tcp", "tls", "starttls"}, 2, false},
		{[]string{"stanzascope_connections_open", "transport", "tcp", "tls", "none"}, 0, false},
		{[]string{"stanzascope_connections_total", "transport", "tcp", "tls", "none"}, 5, true},
		{[]string{"stanzascope_starttls_total", "transport", "tcp"}, 3, true},
		{[]string{"stanzascope_registrations_total"}, 2, true},
		{[]string{"stanzascope_logins_total", "mechanism", "SCRAM-SHA-256", "result", "success"}, 1, true},
		{[]string{"stanzascope_logins_total", "mechanism", "SCRAM-SHA-256", "result", "failure"}, 1, true},
		{[]string{"stanzascope_logins_total", "mechanism", "SCRAM-SHA-1", "result", "success"}, 1, true},
		{[]string{"stanzascope_logins_total", "mechanism", "iq-auth", "result", "success"}, 1, true},
		{[]string{"stanzascope_rule_matches_total", "rule", "tag-chat"}, 3, true},
	}
	moved := func(s scrape, c want) float64 {
		k := series(c.labels[0], c.labels[1:]...)
		return s.samples[k] - before.samples[k]
	}
	during := waitScrape(t, url, "the session's figures", func(s scrape) bool {
		for _, c := range wants {
			if moved(s, c) != c.want {
				return false
			}
		}
		return true
	})
	for _, c := range wants {
		if got := during.delta(t, before, c.labels[0], c.labels[1:]...); got != c.want {
			t.Errorf("%s moved by %v, want %v", series(c.labels[0], c.labels[1:]...), got, c.want)
		}
	}
	for _, s := range []string{
		series("stanzascope_stream_bytes_total", "direction", "c2s", "element", "message"),
		series("stanzascope_stream_bytes_total", "direction", "s2c", "element", "other"),
		series("stanzascope_iq_rtt_seconds_count", "direction", "c2s"), // registration, bind
		series("stanzascope_stanzas_total", "direction", "c2s", "element", "iq"),
	} {
		if during.samples[s] <= before.samples[s] {
			t.Errorf("%s did not move: %v, before %v", s, during.samples[s], before.samples[s])
		}
	}
	for _, s := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if during.samples[s] <= 0 {
			t.Errorf("%s: %v", s, during.samples[s])
		}
	}

	juliet.Close()
	romeo.Close()
	after := waitScrape(t, url, "every connection closed", func(s scrape) bool {
		return s.samples[series("stanzascope_connections_open", "transport", "tcp", "tls", "starttls")] == 0 &&
			s.samples[series("stanzascope_connections_open", "transport", "tcp", "tls", "none")] == 0
	})
	// No figure went past what happened meanwhile.
	for _, c := range wants {
		if got := after.delta(t, before, c.labels[0], c.labels[1:]...); c.counter && got != c.want {
			t.Errorf("after the close, %s moved by %v, want %v", series(c.labels[0], c.labels[1:]...), got, c.want)
		}
	}
	// The log's counter is what is in the file once the traffic is over.
	waitScrape(t, url, "the log's counter to match the file", func(s scrape) bool {
		data, _ := os.ReadFile(logPath)
		n := bytes.Count(data, []byte("\n"))
		return n > 0 && s.samples["stanzascope_log_records_written_total"] == float64(n)
	})
	if v, ok := after.samples["stanzascope_display_records_skipped_total"]; !ok || v != 0 {
		t.Errorf("display records skipped: %v, %v", v, ok)
	}
	for _, s := range []scrape{before, during, after} {
		for _, secret := range []string{"juliet", "romeo", "@localhost", "/telnet", metricsPassword} {
			if strings.Contains(s.body, secret) {
				t.Errorf("the scrape shows %q:\n%s", secret, s.body)
			}
		}
	}

	// Profiles on the same listener; a request for another Host is refused (DNS rebinding).
	base := strings.TrimSuffix(url, "/metrics")
	for path, code := range map[string]int{"/debug/pprof/": 200, "/debug/pprof/cmdline": 200, "/debug/pprof/goroutine?debug=1": 200} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = "rebound.example:80"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("Host rebound.example: %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// The web view serves the same metrics, behind its token.
	webMetrics := strings.TrimSuffix(strings.SplitN(in.found["web"], "?", 2)[0], "/") + "/metrics"
	if s := getScrape(t, webMetrics, "Authorization", "Bearer metrics-token-42"); !strings.Contains(s.body, "stanzascope_stanzas_total") {
		t.Errorf("the web view's /metrics:\n%s", s.body)
	}
	if resp, err := http.Get(webMetrics); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the web view's /metrics without the token: %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code := in.stop(); code != 0 {
		t.Errorf("exit %d:\n%s", code, in.stderr.String())
	}
}

var switchServingRE = regexp.MustCompile(`serving \S+ on (\S+) `)

// TestMetricsSwitch runs the switch alone with --metrics: its own connections, an offline
// message stored and delivered, a stanza error and a stream error, each by its condition.
func TestMetricsSwitch(t *testing.T) {
	dir := t.TempDir()
	in := startWith(t, map[string]*regexp.Regexp{"metrics": metricsRE, "xmpp": switchServingRE},
		"switch", "--listen", "127.0.0.1:0", "--db", dir+"/switch.db", "--web", "off", "--format", "json", "--metrics", "127.0.0.1:0")
	url := in.found["metrics"]
	before := getScrape(t, url)
	hdr := "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	for _, user := range []string{"juliet", "romeo"} {
		s := dialTelnet(t, in.found["xmpp"])
		s.say(hdr, "<stream:stream")
		s.say("<iq id='r' type='set'><query xmlns='jabber:iq:register'><username>"+user+"</username><password>"+metricsPassword+"</password></query></iq>", "'r'")
		s.say("</stream:stream>", "</stream:stream>")
	}
	j := dialTelnet(t, in.found["xmpp"])
	j.say(hdr, "<stream:stream")
	j.say("<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>juliet</username><password>"+metricsPassword+"</password><resource>balcony</resource></query></iq>", "'a'")
	j.say("<message to='romeo@localhost' type='chat'><body>kept for later</body></message><message to='nobody@localhost' id='x' type='chat'><body>?</body></message>", "service-unavailable")
	r := dialTelnet(t, in.found["xmpp"])
	r.say(hdr, "<stream:stream")
	r.say("<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>romeo</username><password>"+metricsPassword+"</password><resource>garden</resource></query></iq>", "'a'")
	r.say("<presence/>", "kept for later")
	r.say("<message><body>a < b</body></message>", "not-well-formed")
	j.say("</stream:stream>", "</stream:stream>")
	// The stream error is counted when its record reaches the metrics output, which may be
	// after the connection's gauge went back down: wait for both.
	streamErr := series("stanzascope_stream_errors_total", "direction", "s2c", "condition", "not-well-formed")
	after := waitScrape(t, url, "every connection closed and the stream error counted", func(s scrape) bool {
		return s.samples[series("stanzascope_connections_open", "transport", "tcp", "tls", "none")] == 0 &&
			s.samples[streamErr] > before.samples[streamErr]
	})
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"stanzascope_connections_total", "transport", "tcp", "tls", "none"}, 4},
		{[]string{"stanzascope_registrations_total"}, 2},
		{[]string{"stanzascope_offline_messages_stored_total"}, 1},
		{[]string{"stanzascope_offline_messages_delivered_total"}, 1},
		{[]string{"stanzascope_logins_total", "mechanism", "iq-auth", "result", "success"}, 2},
		{[]string{"stanzascope_stanza_errors_total", "direction", "s2c", "condition", "service-unavailable"}, 1},
		{[]string{"stanzascope_stream_errors_total", "direction", "s2c", "condition", "not-well-formed"}, 1},
		{[]string{"stanzascope_stanzas_total", "direction", "c2s", "element", "message"}, 2},
		{[]string{"stanzascope_outbox_closes_total"}, 0},
	} {
		if got := after.delta(t, before, c.labels[0], c.labels[1:]...); got != c.want {
			t.Errorf("%s moved by %v, want %v", series(c.labels[0], c.labels[1:]...), got, c.want)
		}
	}
	for _, secret := range []string{"juliet", "romeo", "@localhost", "balcony", metricsPassword} {
		if strings.Contains(after.body, secret) {
			t.Errorf("the scrape shows %q", secret)
		}
	}
	if _, ok := after.samples[series("stanzascope_connections_open", "transport", "tcp", "tls", "starttls")]; !ok {
		t.Errorf("no STARTTLS series for the switch:\n%s", after.body)
	}
	resp, err := http.Get(strings.TrimSuffix(url, "/metrics") + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("profiles without --pprof: %s", resp.Status)
	}
}
