package rules

import (
	"encoding/xml"
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

// parseXML parses text holding exactly one element (whitespace around it is allowed). It
// refuses what RFC 6120 forbids in streams (comments, processing instructions, DTDs,
// entities other than the predefined ones) and bounds size and depth.
//
// The check runs on encoding/xml rather than on inspect's fragment reader, which at the time
// of writing loops forever on an entity reference cut by the end of its buffer (such as a
// stray '&' at the end of the text); the tree is then built by inspect.ParseElement.
func parseXML(text string) (*inspect.Element, error) {
	if len(text) > maxXML {
		return nil, fmt.Errorf("XML longer than %d bytes", maxXML)
	}
	if err := checkXML(text); err != nil {
		return nil, fmt.Errorf("bad XML: %w", err)
	}
	el, err := inspect.ParseElement([]byte(strings.TrimSpace(text)), fragHeader)
	if err != nil {
		return nil, fmt.Errorf("bad XML: %w", err)
	}
	return el, nil
}

// maxXMLDepth bounds element nesting in a rule file's XML, as the reader does for stanzas.
const maxXMLDepth = 64

// checkXML checks that text is one well-formed element in restricted XML.
func checkXML(text string) error {
	d := xml.NewDecoder(strings.NewReader(text))
	d.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 {
					return fmt.Errorf("more than one element (wrap them, or use one action per element)")
				}
			}
			depth++
			if depth > maxXMLDepth {
				return fmt.Errorf("elements nested deeper than %d", maxXMLDepth)
			}
			seen := map[xml.Name]bool{}
			for _, a := range t.Attr {
				if seen[a.Name] {
					return fmt.Errorf("attribute %s given twice", a.Name.Local)
				}
				seen[a.Name] = true
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && strings.TrimSpace(string(t)) != "" {
				return fmt.Errorf("text outside the element")
			}
		case xml.Comment:
			return fmt.Errorf("comments are not allowed in XMPP (RFC 6120 11.1)")
		case xml.ProcInst:
			return fmt.Errorf("processing instructions are not allowed in XMPP (RFC 6120 11.1)")
		case xml.Directive:
			return fmt.Errorf("DTDs and directives are not allowed in XMPP (RFC 6120 11.1)")
		}
	}
	if roots == 0 {
		return fmt.Errorf("no XML element")
	}
	if depth != 0 {
		return fmt.Errorf("unclosed element")
	}
	return nil
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
