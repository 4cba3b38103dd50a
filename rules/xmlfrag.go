package rules

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
)

// inheritNS stands for "no namespace declared" in XML written in a rule file. Such elements
// take the namespace of the place they are put: the stream's content namespace for a
// stanza (jabber:client or jabber:server), the parent's namespace for an inserted child.
const inheritNS = "urn:x-stanzascope:rules:inherit"

// maxXML bounds an XML fragment in a rule file and the output of a template.
const maxXML = 64 << 10

var fragHeader = &inspect.Header{
	Prefix:    "stream",
	ContentNS: inheritNS,
	Version:   "1.0",
	NS:        map[string]string{"stream": inspect.NSStreams},
}

// parseXML parses text holding exactly one element (whitespace around it is allowed) with
// the checks the stream reader applies to stanzas: well-formedness, RFC 6120 restricted
// XML (no comments, processing instructions, DTDs or entities but the predefined ones),
// size and depth.
func parseXML(text string) (*inspect.Element, error) {
	if len(text) > maxXML {
		return nil, fmt.Errorf("XML longer than %d bytes", maxXML)
	}
	r := inspect.NewFragmentReader(strings.NewReader(text), fragHeader, inspect.Limits{MaxStanza: maxXML})
	var el *inspect.Element
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("bad XML: %w", err)
		}
		switch ev.Kind {
		case inspect.KindWhitespace:
			continue
		case inspect.KindStanza:
			if el != nil {
				return nil, fmt.Errorf("bad XML: more than one element (wrap them, or use one action per element)")
			}
			if el, err = inspect.ParseElement(ev.Raw, fragHeader); err != nil {
				return nil, fmt.Errorf("bad XML: %w", err)
			}
		default:
			return nil, fmt.Errorf("bad XML: unexpected %s", ev.Kind)
		}
	}
	if el == nil {
		return nil, fmt.Errorf("bad XML: no element")
	}
	return el, nil
}

// rehome returns a copy of e in which elements written without a namespace take ns.
func rehome(e *inspect.Element, ns string) *inspect.Element {
	c := *e
	if c.Space == inheritNS {
		c.Space, c.Prefix = ns, ""
	}
	c.Attrs = append([]inspect.Attr(nil), e.Attrs...)
	c.Children = make([]inspect.Node, len(e.Children))
	for i, n := range e.Children {
		if ce, ok := n.(*inspect.Element); ok {
			c.Children[i] = rehome(ce, ns)
		} else {
			c.Children[i] = n
		}
	}
	return &c
}
