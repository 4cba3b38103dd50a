// Package rules reads rule files and applies them to stanzas: match by direction, element,
// type, addresses, namespace and XPath; act by passing, dropping, rejecting, rewriting,
// delaying, injecting, tagging or hiding.
package rules

import (
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// Input is one stanza offered to the rules, with what is known of its connection.
type Input struct {
	Conn     *inspect.ConnInfo // may be nil (rules test)
	Dir      inspect.Direction
	BoundJID string          // the connection's bound full JID, "" before binding
	Record   *inspect.Record // Kind is KindStanza; Raw holds the bytes as received
}

// Verdict says what becomes of the stanza itself. It is the records' type, so that what
// the rules decided is what the record says (inspect.Record.Verdict).
type Verdict = inspect.Verdict

// The verdicts a rule can reach.
const (
	Forward = inspect.Forwarded // forward it (Replaced, if set, instead of the original bytes)
	Drop    = inspect.Dropped   // forward nothing
	Reject  = inspect.Rejected  // forward nothing; Inject holds the error bounced to the sender
)

// Injection is an extra stanza to send.
type Injection struct {
	Dir    inspect.Direction // the direction it travels: ClientToServer goes to the server
	Raw    []byte            // the stanza, well-formed, in the stream's content namespace
	Before bool              // send before the stanza that caused it (else after)
}

// Outcome is what the rules decided for one stanza. The zero Outcome forwards the original
// bytes unchanged.
type Outcome struct {
	Verdict  Verdict
	Replaced []byte        // non-nil when a rule changed the stanza: the bytes to forward
	Delay    time.Duration // hold the stanza this long; order within the direction is kept
	Inject   []Injection
	Tags     []inspect.Tag
	Hide     bool     // forward but do not show in the log
	Matched  []string // names of the rules that matched, in order
	// OverBudget names the rules whose XPath ran out of the stanza's step budget: they did
	// not match, or the action that needed the XPath did nothing. Tags holds the same in a
	// tag, so every output shows it.
	OverBudget []string
	// AnswersInjection says that the stanza answers a stanza the rules injected (same id,
	// from the peer it was sent to), so inject actions made nothing (a tag says so too).
	AnswersInjection bool
}
