package rules

import "github.com/stanzascope/stanzascope/inspect"

// errorTypes maps each RFC 6120 section 8.3.3 stanza error condition to the error type the
// RFC says it SHOULD carry; a rule may override the type.
var errorTypes = map[string]string{
	"bad-request":             "modify",
	"conflict":                "cancel",
	"feature-not-implemented": "cancel",
	"forbidden":               "auth",
	"gone":                    "cancel",
	"internal-server-error":   "cancel",
	"item-not-found":          "cancel",
	"jid-malformed":           "modify",
	"not-acceptable":          "modify",
	"not-allowed":             "cancel",
	"not-authorized":          "auth",
	"policy-violation":        "modify",
	"recipient-unavailable":   "wait",
	"redirect":                "modify",
	"registration-required":   "auth",
	"remote-server-not-found": "cancel",
	"remote-server-timeout":   "wait",
	"resource-constraint":     "wait",
	"service-unavailable":     "cancel",
	"subscription-required":   "auth",
	"undefined-condition":     "cancel",
	"unexpected-request":      "wait",
}

// errorTypeNames are the error types of RFC 6120 section 8.3.2.
var errorTypeNames = []string{"auth", "cancel", "continue", "modify", "wait"}

// stanzaError builds the error reply (RFC 6120 section 8.3) to a stanza named name with the
// given top-level attributes: same kind and id, addresses swapped, type='error', in the
// stream's content namespace ns.
func stanzaError(ns, name, id, from, to, errType, cond, text string) *inspect.Element {
	e := inspect.NewElement(ns, name)
	e.SetAttr("type", "error")
	if id != "" {
		e.SetAttr("id", id)
	}
	if to != "" {
		e.SetAttr("from", to)
	}
	if from != "" {
		e.SetAttr("to", from)
	}
	er := inspect.NewElement(ns, "error").SetAttr("type", errType)
	er.Append(inspect.NewElement(inspect.NSStanzas, cond))
	if text != "" {
		er.Append(inspect.NewElement(inspect.NSStanzas, "text").AppendText(text))
	}
	return e.Append(er)
}
