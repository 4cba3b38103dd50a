package metrics

import (
	"github.com/stanzascope/stanzascope/inspect"
)

// Label values. Every label has a short fixed list of values: what a peer writes
// (mechanism names, error conditions, element names) is mapped onto the list, and anything
// else is "other", so that no peer can make the process grow a new time series. A JID is
// never a label.
const other = "other"

// Directions, indexed by inspect.Direction (DirNone is "none").
var directions = [...]string{inspect.DirNone: "none", inspect.ClientToServer: "c2s", inspect.ServerToClient: "s2c"}

func dirIndex(d inspect.Direction) int {
	if int(d) < len(directions) {
		return int(d)
	}
	return int(inspect.DirNone)
}

// Elements of the stanza counters: the three stanzas of RFC 6120, and the rest (stream
// features, SASL, STARTTLS, stream errors, stream headers and whitespace for bytes).
const (
	elemMessage = iota
	elemPresence
	elemIQ
	elemOther
	numElems
)

var elements = [numElems]string{elemMessage: "message", elemPresence: "presence", elemIQ: "iq", elemOther: other}

// elemIndex says which element a record's top-level element counts as: a stanza only in
// the content namespace of a client or server stream.
func elemIndex(name, ns string) int {
	if ns != inspect.NSClient && ns != inspect.NSServer {
		return elemOther
	}
	switch name {
	case "message":
		return elemMessage
	case "presence":
		return elemPresence
	case "iq":
		return elemIQ
	}
	return elemOther
}

// nsSASL2 is a namespace the metrics look at that inspect has no exported name for.
const nsSASL2 = "urn:xmpp:sasl:2" // XEP-0388 Extensible SASL Profile

// mechanisms are the SASL mechanisms counted by name (IANA's SASL registry, the ones XMPP
// software offers, and XEP-0484's FAST tokens); any other name a client sends is "other".
var mechanisms = map[string]bool{
	"PLAIN": true, "EXTERNAL": true, "ANONYMOUS": true, "DIGEST-MD5": true, "CRAM-MD5": true,
	"GSSAPI": true, "OAUTHBEARER": true, "X-OAUTH2": true, "LOGIN": true,
	"SCRAM-SHA-1": true, "SCRAM-SHA-1-PLUS": true, "SCRAM-SHA-256": true, "SCRAM-SHA-256-PLUS": true,
	"SCRAM-SHA-512": true, "SCRAM-SHA-512-PLUS": true, "SCRAM-SHA3-512": true, "SCRAM-SHA3-512-PLUS": true,
	"HT-SHA-256-NONE": true, "HT-SHA-256-UNIQ": true, "HT-SHA-256-ENDP": true, "HT-SHA-256-EXPR": true,
}

// legacyAuth is the mechanism label of a login with jabber:iq:auth (XEP-0078), the
// pre-SASL login of the textbook session.
const legacyAuth = "iq-auth"

func mechanismLabel(m string) string {
	if mechanisms[m] {
		return m
	}
	return other
}

// streamCondLabel and stanzaCondLabel map a condition element's name onto RFC 6120's
// lists (sections 4.9.3 and 8.3.3).
func streamCondLabel(name string) string {
	if inspect.Cond(name).IsStreamCond() {
		return name
	}
	return other
}

func stanzaCondLabel(name string) string {
	if inspect.Cond(name).IsStanzaCond() {
		return name
	}
	return other
}
