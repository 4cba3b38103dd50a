package web

import (
	"bytes"
	"regexp"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// detail is what a browser gets when a person clicks an arrow.
type detail struct {
	I       uint64        `json:"i"`
	Seq     uint64        `json:"seq,omitempty"`
	Pretty  string        `json:"pretty"`            // as the terminal prints it, without colours
	Explain []Segment     `json:"explain,omitempty"` // the explanation, citations as links
	Origin  string        `json:"origin,omitempty"`
	Verdict string        `json:"verdict,omitempty"`
	Dir     string        `json:"dir,omitempty"`
	RTTms   float64       `json:"rtt_ms,omitempty"`
	Tags    []inspect.Tag `json:"tags,omitempty"`
	Rules   []string      `json:"rules,omitempty"`
	Changed bool          `json:"changed,omitempty"` // a rule changed the bytes (the pretty text shows how)
	// Transport is the connection's, when not TCP ("websocket": the framing changes bytes too).
	Transport string `json:"transport,omitempty"`
}

// renderDetail prints a record the hub holds. Printing may parse it: the tree stays in
// the record (inspect.Record.Element is safe for concurrent use), so a detail opened
// again is not parsed again.
func (h *Hub) renderDetail(i uint64, rec *inspect.Record) detail {
	var buf bytes.Buffer
	p := inspect.NewPretty(&buf, inspect.PrettyOptions{})
	if err := p.Write(rec); err != nil { // cannot happen: a bytes.Buffer
		buf.WriteString(err.Error())
	}
	d := detail{
		I: i, Seq: rec.Seq, Pretty: buf.String(), Explain: Cite(inspect.Explain(rec)),
		Origin: rec.Producer().String(), Verdict: string(rec.Verdict), Dir: rec.Dir.String(),
		Tags: rec.Tags(), Rules: rec.Rules(), Changed: rec.Original() != nil,
	}
	if rec.Conn != nil {
		d.Transport = rec.Conn.Transport
	}
	if rec.RTT() > 0 {
		d.RTTms = float64(rec.RTT()) / float64(time.Millisecond)
	}
	return d
}

// Segment is a piece of an explanation: text, and for a citation the address of the
// section it cites.
type Segment struct {
	Text string `json:"text"`
	Href string `json:"href,omitempty"`
}

// citation matches what the explain catalogue cites: "RFC 6120 §7.7.1", "RFC 4616",
// "XEP-0077 §3.1", "XEP-0078".
var citation = regexp.MustCompile(`\b(?:RFC (\d{3,5})|XEP-(\d{4}))(?: §(\d{1,2}(?:\.\d{1,2}){0,4}))?`)

// Cite splits an explanation into text and links to the RFC or XEP sections it cites:
// an RFC section links to rfc-editor.org's anchor for it, a XEP to its page on xmpp.org
// (XEP pages have no stable section anchors). Concatenating the texts gives s back.
func Cite(s string) []Segment {
	if s == "" {
		return nil
	}
	var segs []Segment
	last := 0
	for _, m := range citation.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			segs = append(segs, Segment{Text: s[last:m[0]]})
		}
		var href string
		if m[2] >= 0 {
			href = "https://www.rfc-editor.org/rfc/rfc" + s[m[2]:m[3]]
			if m[6] >= 0 {
				href += "#section-" + s[m[6]:m[7]]
			}
		} else {
			href = "https://xmpp.org/extensions/xep-" + s[m[4]:m[5]] + ".html"
		}
		segs = append(segs, Segment{Text: s[m[0]:m[1]], Href: href})
		last = m[1]
	}
	if last < len(s) {
		segs = append(segs, Segment{Text: s[last:]})
	}
	return segs
}
