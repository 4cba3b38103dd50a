package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Phase is the outcome of registering or logging in every client.
type Phase struct {
	OK      int      `json:"ok"`
	Failed  int      `json:"failed"`
	Seconds float64  `json:"seconds"`
	PerSec  float64  `json:"per_second"`
	Errors  []string `json:"errors,omitempty"` // distinct reasons, most frequent first, with counts
	CPU     CPU      `json:"cpu"`
}

// Latency is the end-to-end latency of delivered messages, in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

func latencyOf(s *HistSnapshot) Latency {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return Latency{
		Count: s.Count(), Mean: ms(s.Mean()),
		P50: ms(s.Quantile(0.50)), P90: ms(s.Quantile(0.90)), P99: ms(s.Quantile(0.99)),
		P999: ms(s.Quantile(0.999)), Max: ms(time.Duration(s.Max)),
	}
}

// Messages is the outcome of the message run.
type Messages struct {
	Counts
	// Skipped counts messages due on the schedule but not sent because the sender's
	// window was full (the server was that far behind); only with a rate.
	Skipped       int64   `json:"skipped"`
	Seconds       float64 `json:"seconds"` // how long messages were sent
	SentPerSec    float64 `json:"sent_per_second"`
	DeliveredPerS float64 `json:"delivered_per_second"`
	Latency       Latency `json:"latency"`
	CPU           CPU     `json:"cpu"`
	Pairs         int     `json:"pairs"`
	// Crossed counts the messages delivered between two clients on different targets
	// (with several targets: nodes of a cluster), CrossedShare their share of Delivered.
	Crossed      int64   `json:"crossed"`
	CrossedShare float64 `json:"crossed_share"`
	// Unsettled counts the clients whose peer's node still did not route to them after
	// LoginTimeout of probes before the run (several targets only: settle.go).
	Unsettled int `json:"unsettled,omitempty"`
}

// Idle is the outcome of an idle-connection run.
type Idle struct {
	Connections int     `json:"connections"`
	HoldSeconds float64 `json:"hold_seconds"`
	PID         int     `json:"pid,omitempty"`
	RSSBefore   int64   `json:"rss_before_bytes,omitempty"`
	RSSAfter    int64   `json:"rss_after_bytes,omitempty"`
	PerConn     float64 `json:"bytes_per_connection,omitempty"`
	Error       string  `json:"error,omitempty"`
}

// Result is everything a run measured.
type Result struct {
	Target    string    `json:"target"`
	Domain    string    `json:"domain"`
	Clients   int       `json:"clients"`
	Rate      string    `json:"rate"` // "max" or messages per second
	TLS       bool      `json:"tls"`
	Mechanism string    `json:"mechanism,omitempty"`
	Register  *Phase    `json:"register,omitempty"`
	Login     Phase     `json:"login"` // empty after a registration only
	Messages  *Messages `json:"messages,omitempty"`
	Offline   *Offline  `json:"offline,omitempty"`
	Idle      *Idle     `json:"idle,omitempty"`
	// Dropped lists connections that ended before the run closed them, by reason.
	Dropped []string `json:"dropped,omitempty"`
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteSummary writes r as a table for people.
func (r *Result) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(k, f string, a ...any) { fmt.Fprintf(tw, "%s\t"+f+"\n", append([]any{k}, a...)...) }
	tls := "plaintext"
	if r.TLS {
		tls = "STARTTLS"
	}
	p("target", "%s (%s, %s, %s)", r.Target, r.Domain, tls, r.Mechanism)
	if r.Register != nil {
		p("registration", "%d ok, %d failed in %.2fs (%.0f/s)", r.Register.OK, r.Register.Failed, r.Register.Seconds, r.Register.PerSec)
		for _, e := range r.Register.Errors {
			p("", "  %s", e)
		}
	}
	if r.Login.OK+r.Login.Failed == 0 {
		return tw.Flush() // registration only
	}
	p("login", "%d ok, %d failed in %.2fs (%.0f logins/s)%s", r.Login.OK, r.Login.Failed, r.Login.Seconds, r.Login.PerSec, saturated(r.Login.CPU))
	for _, e := range r.Login.Errors {
		p("", "  %s", e)
	}
	if o := r.Offline; o != nil {
		p("offline", "%d per pair, %d sent, kept in %.2fs (%.0f/s), %d bounced", o.PerPair, o.Sent, o.StoredSeconds, o.StoredPerSec, o.Errored)
		p("logins", "%d ok, %d failed in %.2fs (%.0f logins/s with their offline messages)", o.Logins.OK, o.Logins.Failed, o.Logins.Seconds, o.Logins.PerSec)
		for _, e := range o.Logins.Errors {
			p("", "  %s", e)
		}
		missing := ""
		if o.Missing > 0 {
			missing = fmt.Sprintf("  MISSING: %d not received", o.Missing)
		}
		p("delivered", "%d (%.0f/s)%s", o.Delivered, o.DeliveredPerSc, missing)
	}
	if m := r.Messages; m != nil {
		p("messages", "%d pairs, rate %s, %.1fs", m.Pairs, r.Rate, m.Seconds)
		p("sent", "%d (%.0f/s)", m.Sent, m.SentPerSec)
		p("delivered", "%d (%.0f/s)", m.Delivered, m.DeliveredPerS)
		if strings.Contains(r.Target, ",") {
			p("crossed", "%d (%.1f %% of delivered: between clients on two targets)", m.Crossed, 100*m.CrossedShare)
			if m.Unsettled > 0 {
				p("unsettled", "%d clients: their peer's target did not route to them before the run", m.Unsettled)
			}
		}
		p("errored", "%d", m.Errored)
		lost := fmt.Sprint(m.Lost)
		if m.Lost > 0 {
			lost += "  LOST: not received within the grace period"
		}
		p("lost", "%s", lost)
		if m.Duplicates > 0 || m.Unexpected > 0 {
			p("duplicates", "%d (unexpected stamps: %d)", m.Duplicates, m.Unexpected)
		}
		if m.Skipped > 0 {
			p("skipped", "%d (due but not sent: the server was a whole window behind)", m.Skipped)
		}
		l := m.Latency
		p("latency", "p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  (mean %.3f ms)", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
		p("client CPU", "%.2f of %d cores (user %.2fs, sys %.2fs)%s", m.CPU.CoresUsed, m.CPU.Cores, m.CPU.UserSeconds, m.CPU.SysSeconds, saturated(m.CPU))
	}
	if id := r.Idle; id != nil {
		p("idle", "%d connections held for %.1fs", id.Connections, id.HoldSeconds)
		if id.PID > 0 && id.Error == "" {
			p("memory", "pid %d: RSS %s before, %s after: %.1f KiB per connection", id.PID, mib(id.RSSBefore), mib(id.RSSAfter), id.PerConn/1024)
		}
		if id.Error != "" {
			p("memory", "%s", id.Error)
		}
	}
	for _, d := range r.Dropped {
		p("dropped", "%s", d)
	}
	return tw.Flush()
}

func saturated(c CPU) string {
	if c.Saturated {
		return fmt.Sprintf("  LOAD GENERATOR SATURATED (%.2f of %d cores): the figures measure the generator too", c.CoresUsed, c.Cores)
	}
	return ""
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// errorTally counts errors by message for the report.
type errorTally map[string]int

func (t errorTally) add(err error) { t[err.Error()]++ }

// top returns up to n reasons, most frequent first, as "N× reason".
func (t errorTally) top(n int) []string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range t {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].v != all[j].v {
			return all[i].v > all[j].v
		}
		return all[i].k < all[j].k
	})
	var out []string
	for i, e := range all {
		if i == n {
			out = append(out, fmt.Sprintf("... and %d other reasons", len(all)-n))
			break
		}
		out = append(out, fmt.Sprintf("%d× %s", e.v, strings.TrimSpace(e.k)))
	}
	return out
}
