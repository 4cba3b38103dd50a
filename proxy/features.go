package proxy

import (
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
)

// Namespaces of features the proxy edits.
const (
	nsSASL2 = "urn:xmpp:sasl:2" // XEP-0388
)

// featureEdit is what editFeatures decided.
type featureEdit struct {
	out     []byte   // the features to forward; nil means unchanged
	base    []byte   // out without a STARTTLS the proxy added (replayed after its own TLS)
	offered bool     // the upstream offered STARTTLS
	mode    tlsMode  // what to do on the client's <starttls/>
	why     string   // with tlsRefuse: why, for the client
	notes   []string // what was changed and why
}

// editFeatures removes from <stream:features> what would defeat inspection (stream
// compression, SASL channel binding) and decides about STARTTLS: forwarded when the
// upstream offers it, removed when the proxy cannot intercept it, and added when the
// upstream has none only if Config.AllowPlaintextUpstream lets the client leg be stronger
// than the upstream leg (see downgrade.go).
func (n *negotiator) editFeatures(raw []byte, h *inspect.Header) featureEdit {
	var fe featureEdit
	el, err := inspect.ParseElement(raw, h)
	if err != nil {
		fe.notes = append(fe.notes, "features not parsed, forwarded unchanged: "+err.Error())
		return fe
	}
	if el.Local != "features" {
		return fe // the reader only hands features here; anything else passes untouched
	}
	authenticated, clientTLS, upTLS := n.authenticated, n.clientTLS, n.upTLS
	changed := false
	kept := el.Children[:0:0]
	for _, node := range el.Children {
		c, ok := node.(*inspect.Element)
		if !ok {
			kept = append(kept, node)
			continue
		}
		switch {
		case c.Space == inspect.NSCompressFeature && c.Local == "compression":
			fe.notes = append(fe.notes, "removed stream compression (XEP-0138) from the features: it would hide the stanzas")
			changed = true
			continue
		case c.Space == inspect.NSTLS && c.Local == "starttls":
			fe.offered = true
			if clientTLS {
				fe.notes = append(fe.notes, "removed STARTTLS from the features: the client leg is already TLS")
				fe.why = "the client leg is already TLS"
				changed = true
				continue
			}
			if n.ws {
				fe.notes = append(fe.notes, "removed STARTTLS from the features: the client leg is a WebSocket (its TLS is the page's, https)")
				fe.why = "the client leg is a WebSocket"
				changed = true
				continue
			}
			if !n.hasCA {
				fe.notes = append(fe.notes, "removed STARTTLS from the features: no CA, so the proxy cannot intercept TLS")
				fe.why = "stanzascope has no CA to intercept TLS with"
				changed = true
				continue
			}
			fe.mode = tlsForward
		case (c.Space == inspect.NSSASL && c.Local == "mechanisms") || (c.Space == nsSASL2 && c.Local == "authentication"):
			if removed := stripPlus(c); len(removed) > 0 {
				fe.notes = append(fe.notes, "removed SASL channel-binding mechanisms "+strings.Join(removed, ", ")+": TLS is intercepted, channel binding would fail")
				changed = true
			}
		}
		kept = append(kept, node)
	}
	el.Children = kept
	ns := inspect.NSClient
	if h != nil && h.ContentNS != "" {
		ns = h.ContentNS
	}
	if changed {
		fe.out = el.AppendXML(nil, ns)
	}
	if fe.offered || clientTLS || upTLS || authenticated || n.ws {
		return fe // (a WebSocket client cannot STARTTLS: the proxy never offers it one)
	}
	switch {
	case n.allowPlain && n.hasCA:
		fe.base = fe.out
		if fe.base == nil {
			fe.base = append([]byte(nil), raw...)
		}
		el.Append(inspect.NewElement(inspect.NSTLS, "starttls"))
		fe.out = el.AppendXML(nil, ns)
		fe.mode = tlsLocal
		fe.notes = append(fe.notes, "added STARTTLS to the features (--allow-plaintext-upstream): the upstream offers no TLS, the proxy offers it to the client and keeps the upstream leg plaintext")
	default:
		fe.why = whyPlainUpstream
		fe.notes = append(fe.notes, "the upstream offers no STARTTLS: both legs stay plaintext, and the proxy offers the client no TLS of its own, which would not continue upstream")
	}
	return fe
}

// stripPlus removes <mechanism> children whose name ends in -PLUS and returns their names.
func stripPlus(mechs *inspect.Element) []string {
	var removed []string
	kept := mechs.Children[:0:0]
	for _, n := range mechs.Children {
		if m, ok := n.(*inspect.Element); ok && m.Local == "mechanism" && strings.HasSuffix(strings.TrimSpace(m.Text()), "-PLUS") {
			removed = append(removed, strings.TrimSpace(m.Text()))
			continue
		}
		kept = append(kept, n)
	}
	mechs.Children = kept
	return removed
}
