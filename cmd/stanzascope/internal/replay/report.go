package replay

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Report is the outcome of a replay.
type Report struct {
	Log         string `json:"log,omitempty"` // the log file, as the caller named it
	Conn        uint64 `json:"conn"`
	Client      string `json:"client,omitempty"`
	RecordedJID string `json:"recorded_jid"`
	Target      string `json:"target"`
	JID         string `json:"jid"`       // the full JID the replay was bound to
	TLS         string `json:"tls"`       // what STARTTLS gave
	Mechanism   string `json:"mechanism"` // the replay's SASL mechanism
	Speed       string `json:"speed"`     // the --speed: a factor, or max

	Steps       []StepResult `json:"steps"`
	Stanzas     int          `json:"client_stanzas"` // recorded client stanzas (the login not counted)
	Sent        int          `json:"sent"`           // of them sent
	Differences int          `json:"differences"`    // steps whose answers differ (or that were not sent)
	Aborted     string       `json:"aborted,omitempty"`
	Notes       []string     `json:"notes,omitempty"`
}

func (rep *Report) finish(steps []StepResult) {
	rep.Steps = steps
	for _, s := range steps {
		if s.Phase == "login" {
			continue
		}
		rep.Stanzas++
		if s.Sent {
			rep.Sent++
		}
		if s.Differs {
			rep.Differences++
		}
	}
}

// WriteJSON writes the report as one indented JSON document.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("replay report: %w", err)
	}
	return nil
}

// WriteText writes the report for a person: one line per client stanza with what the
// servers answered, and below a stanza whose answers differ, how.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	src := "conn " + fmt.Sprint(rep.Conn)
	if rep.Log != "" {
		src += " of " + rep.Log
	}
	fmt.Fprintf(&b, "replay of %s (recorded as %s) against %s as %s\n", src, rep.RecordedJID, rep.Target, rep.JID)
	fmt.Fprintf(&b, "TLS: %s; SASL %s; speed %s\n\n", rep.TLS, rep.Mechanism, rep.Speed)
	for _, s := range rep.Steps {
		writeStep(&b, s)
	}
	b.WriteString("\n")
	for _, n := range rep.Notes {
		b.WriteString("note: " + n + "\n")
	}
	if rep.Aborted != "" {
		b.WriteString("stopped early: " + rep.Aborted + "\n")
	}
	switch rep.Differences {
	case 0:
		fmt.Fprintf(&b, "no differences: %d client stanzas sent, every answer as recorded\n", rep.Sent)
	default:
		fmt.Fprintf(&b, "differences: %d of %d client stanzas (%d sent) did not get the recorded answers\n", rep.Differences, rep.Stanzas, rep.Sent)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeStep(b *strings.Builder, s StepResult) {
	seq := "   "
	if s.Seq > 0 {
		seq = fmt.Sprintf("#%d", s.Seq)
	}
	mark := "  "
	if s.Differs {
		mark = "≠ "
	}
	head := fmt.Sprintf("%s%-6s %s", mark, seq, s.Stanza)
	switch {
	case s.Phase == "login":
		head += "   (replaced by the replay's own login)"
	case !s.Sent:
		fmt.Fprintf(b, "%s   NOT SENT: %s\n", head, s.NotSent)
		return
	}
	var got []string
	if s.Answer != nil && !s.Answer.Differs() {
		got = append(got, s.Answer.Replayed.Sig.String())
	}
	for _, p := range s.Others {
		if !p.Differs() {
			got = append(got, p.Replayed.Sig.String())
		}
	}
	if len(got) > 0 {
		head += "  → " + strings.Join(got, ", ")
	}
	b.WriteString(head + "\n")
	if s.Answer.Differs() {
		writePair(b, "answer", *s.Answer)
	}
	for _, p := range s.Others {
		if p.Differs() {
			writePair(b, "", p)
		}
	}
}

func writePair(b *strings.Builder, what string, p Pair) {
	if what != "" {
		what += " "
	}
	switch {
	case p.Replayed == nil:
		fmt.Fprintf(b, "           missing %s%s (recorded #%d)\n", what, p.Recorded.Sig, p.Recorded.Seq)
	case p.Recorded == nil:
		fmt.Fprintf(b, "           unexpected %s%s: %s\n", what, p.Replayed.Sig, clip(p.Replayed.XML, 160))
	default:
		fmt.Fprintf(b, "           %srecorded %s (#%d), replayed %s: %s\n", what, p.Recorded.Sig, p.Recorded.Seq, p.Replayed.Sig, strings.Join(p.Diff, "; "))
	}
}

// clip shortens s to about n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
