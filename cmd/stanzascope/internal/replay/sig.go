package replay

import (
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
)

// Sig is what the comparison looks at in a server's stanza: the structure that matters,
// not the bytes.
type Sig struct {
	// Name is the element's local name: message, presence, iq, or a nonza's name; "stream"
	// (with Type "close") for the end of the stream, "error" in the streams namespace for
	// a stream error.
	Name string `json:"name"`
	// NS is the element's namespace when it is not the stanza namespace (jabber:client):
	// stream errors and nonzas such as stream management's.
	NS string `json:"ns,omitempty"`
	// Type is the type attribute, with the defaults of RFC 6120 filled in: "normal" for a
	// message, "available" for a presence without one.
	Type string `json:"type,omitempty"`
	// Cond is the defined condition of a stanza error or a stream error.
	Cond string `json:"condition,omitempty"`
	// Payload is, for an iq, its first child element other than <error/>, written
	// "local namespace" (for example "query jabber:iq:roster"); "" for an empty iq.
	Payload string `json:"payload,omitempty"`
}

// String is the signature as the report shows it, for example
// "iq result (query jabber:iq:roster)" or "message error (service-unavailable)".
func (s Sig) String() string {
	var b strings.Builder
	b.WriteString(s.Name)
	if s.Type != "" {
		b.WriteString(" " + s.Type)
	}
	var in []string
	if s.Cond != "" {
		in = append(in, s.Cond)
	}
	if s.Payload != "" {
		in = append(in, s.Payload)
	}
	if s.NS != "" && s.NS != inspect.NSStreams {
		in = append(in, s.NS)
	}
	if len(in) > 0 {
		b.WriteString(" (" + strings.Join(in, ", ") + ")")
	}
	return b.String()
}

// closeSig is the signature of the end of a stream.
var closeSig = Sig{Name: "stream", NS: inspect.NSStreams, Type: "close"}

// SigOf returns the signature of el, read on a stream whose stanzas are in contentNS.
func SigOf(el *inspect.Element, contentNS string) Sig {
	s := Sig{Name: el.Local}
	if contentNS == "" {
		contentNS = inspect.NSClient
	}
	if el.Space != contentNS {
		s.NS = el.Space
	}
	if el.Space == inspect.NSStreams && el.Local == "error" {
		for _, c := range el.Elements() {
			if c.Space == inspect.NSStreamErrors && c.Local != "text" {
				s.Cond = c.Local
				break
			}
		}
		return s
	}
	if s.NS != "" {
		return s // a nonza: its name and namespace are its structure
	}
	s.Type = el.Attr("type")
	switch {
	case s.Type == "" && el.Local == "message":
		s.Type = "normal"
	case s.Type == "" && el.Local == "presence":
		s.Type = "available"
	}
	if s.Type == "error" {
		s.Cond = errorCondition(el)
	}
	if el.Local == "iq" {
		for _, c := range el.Elements() {
			if c.Local == "error" && c.Space == el.Space {
				continue
			}
			s.Payload = c.Local + " " + c.Space
			break
		}
	}
	return s
}

// errorCondition returns the defined condition of an error stanza; "undefined-condition"
// when its <error/> names none, "" when it has no <error/>.
func errorCondition(el *inspect.Element) string {
	for _, e := range el.Elements() {
		if e.Local != "error" {
			continue
		}
		for _, c := range e.Elements() {
			if c.Space == inspect.NSStanzas && c.Local != "text" {
				return c.Local
			}
		}
		return string(inspect.CondUndefinedCondition)
	}
	return ""
}

// diff lists how got differs from want, field by field, in words for the report.
func diff(want, got Sig) []string {
	var d []string
	if want.Name != got.Name || want.NS != got.NS {
		return []string{"element: " + want.String() + " → " + got.String()}
	}
	if want.Type != got.Type {
		d = append(d, "type: "+orNone(want.Type)+" → "+orNone(got.Type))
	}
	if want.Cond != got.Cond {
		d = append(d, "condition: "+orNone(want.Cond)+" → "+orNone(got.Cond))
	}
	if want.Payload != got.Payload {
		d = append(d, "payload: "+orNone(want.Payload)+" → "+orNone(got.Payload))
	}
	return d
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
