package server

import (
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// appendDelay appends both delay forms: XEP-0203 urn:xmpp:delay and the legacy XEP-0091
// jabber:x:delay that the textbook's clients read.
func appendDelay(b []byte, from string, t time.Time) []byte {
	t = t.UTC()
	b = appendOpen(b, "delay", true, "xmlns", inspect.NSDelay, "from", from, "stamp", t.Format("2006-01-02T15:04:05Z"))
	return appendOpen(b, "x", true, "xmlns", inspect.NSLegacyDelay, "from", from, "stamp", t.Format("20060102T15:04:05"))
}
