package inspect

// Cond is an error condition of RFC 6120: a stream error condition (section 4.9.3) or a
// stanza error condition (section 8.3.3). Some names are both (policy-violation,
// not-authorized, ...); what carries the condition says which it is. It is written as the
// element name of the condition, so a Cond is its own wire form.
type Cond string

// Stream error conditions (RFC 6120 section 4.9.3).
const (
	CondBadFormat              Cond = "bad-format"
	CondBadNamespacePrefix     Cond = "bad-namespace-prefix"
	CondConflict               Cond = "conflict"
	CondConnectionTimeout      Cond = "connection-timeout"
	CondHostGone               Cond = "host-gone"
	CondHostUnknown            Cond = "host-unknown"
	CondImproperAddressing     Cond = "improper-addressing"
	CondInternalServerError    Cond = "internal-server-error"
	CondInvalidFrom            Cond = "invalid-from"
	CondInvalidNamespace       Cond = "invalid-namespace"
	CondInvalidXML             Cond = "invalid-xml"
	CondNotAuthorized          Cond = "not-authorized"
	CondNotWellFormed          Cond = "not-well-formed"
	CondPolicyViolation        Cond = "policy-violation"
	CondRemoteConnectionFailed Cond = "remote-connection-failed"
	CondReset                  Cond = "reset"
	CondResourceConstraint     Cond = "resource-constraint"
	CondRestrictedXML          Cond = "restricted-xml"
	CondSeeOtherHost           Cond = "see-other-host"
	CondSystemShutdown         Cond = "system-shutdown"
	CondUndefinedCondition     Cond = "undefined-condition"
	CondUnsupportedEncoding    Cond = "unsupported-encoding"
	CondUnsupportedFeature     Cond = "unsupported-feature"
	CondUnsupportedStanzaType  Cond = "unsupported-stanza-type"
	CondUnsupportedVersion     Cond = "unsupported-version"
)

// Stanza error conditions (RFC 6120 section 8.3.3) that are not also stream error
// conditions above.
const (
	CondBadRequest            Cond = "bad-request"
	CondFeatureNotImplemented Cond = "feature-not-implemented"
	CondForbidden             Cond = "forbidden"
	CondGone                  Cond = "gone"
	CondItemNotFound          Cond = "item-not-found"
	CondJIDMalformed          Cond = "jid-malformed"
	CondNotAcceptable         Cond = "not-acceptable"
	CondNotAllowed            Cond = "not-allowed"
	CondRecipientUnavailable  Cond = "recipient-unavailable"
	CondRedirect              Cond = "redirect"
	CondRegistrationRequired  Cond = "registration-required"
	CondRemoteServerNotFound  Cond = "remote-server-not-found"
	CondRemoteServerTimeout   Cond = "remote-server-timeout"
	CondServiceUnavailable    Cond = "service-unavailable"
	CondSubscriptionRequired  Cond = "subscription-required"
	CondUnexpectedRequest     Cond = "unexpected-request"
)

// String returns the condition's element name.
func (c Cond) String() string { return string(c) }

// IsStreamCond reports whether c is a stream error condition of RFC 6120 section 4.9.3.
func (c Cond) IsStreamCond() bool {
	switch c {
	case CondBadFormat, CondBadNamespacePrefix, CondConflict, CondConnectionTimeout, CondHostGone,
		CondHostUnknown, CondImproperAddressing, CondInternalServerError, CondInvalidFrom,
		CondInvalidNamespace, CondInvalidXML, CondNotAuthorized, CondNotWellFormed,
		CondPolicyViolation, CondRemoteConnectionFailed, CondReset, CondResourceConstraint,
		CondRestrictedXML, CondSeeOtherHost, CondSystemShutdown, CondUndefinedCondition,
		CondUnsupportedEncoding, CondUnsupportedFeature, CondUnsupportedStanzaType,
		CondUnsupportedVersion:
		return true
	}
	return false
}

// IsStanzaCond reports whether c is a stanza error condition of RFC 6120 section 8.3.3.
func (c Cond) IsStanzaCond() bool {
	_, ok := stanzaCondTable[c]
	return ok
}

// ErrorType is the type of a stanza error (RFC 6120 section 8.3.2): what the sender should
// do about it.
type ErrorType string

// Stanza error types.
const (
	ErrorAuth     ErrorType = "auth"     // retry after providing credentials
	ErrorCancel   ErrorType = "cancel"   // do not retry
	ErrorContinue ErrorType = "continue" // proceed: only a warning
	ErrorModify   ErrorType = "modify"   // retry after changing the data sent
	ErrorWait     ErrorType = "wait"     // retry after waiting
)

// ErrorTypes are the stanza error types of RFC 6120 section 8.3.2, in alphabetical order.
var ErrorTypes = []ErrorType{ErrorAuth, ErrorCancel, ErrorContinue, ErrorModify, ErrorWait}

// stanzaCond is what RFC 6120 and XEP-0086 say about one stanza error condition.
type stanzaCond struct {
	typ  ErrorType // the type RFC 6120 section 8.3.3 says the condition SHOULD carry
	code int       // the legacy error code of XEP-0086, for pre-1.0 clients
}

// stanzaCondTable is the condition-to-type table of RFC 6120 section 8.3.3 with the legacy
// codes of XEP-0086 section 3.
var stanzaCondTable = map[Cond]stanzaCond{
	CondBadRequest:            {ErrorModify, 400},
	CondConflict:              {ErrorCancel, 409},
	CondFeatureNotImplemented: {ErrorCancel, 501},
	CondForbidden:             {ErrorAuth, 403},
	CondGone:                  {ErrorCancel, 302},
	CondInternalServerError:   {ErrorCancel, 500},
	CondItemNotFound:          {ErrorCancel, 404},
	CondJIDMalformed:          {ErrorModify, 400},
	CondNotAcceptable:         {ErrorModify, 406},
	CondNotAllowed:            {ErrorCancel, 405},
	CondNotAuthorized:         {ErrorAuth, 401},
	CondPolicyViolation:       {ErrorModify, 0}, // new in RFC 6120: no legacy code
	CondRecipientUnavailable:  {ErrorWait, 404},
	CondRedirect:              {ErrorModify, 302},
	CondRegistrationRequired:  {ErrorAuth, 407},
	CondRemoteServerNotFound:  {ErrorCancel, 404},
	CondRemoteServerTimeout:   {ErrorWait, 504},
	CondResourceConstraint:    {ErrorWait, 500},
	CondServiceUnavailable:    {ErrorCancel, 503},
	CondSubscriptionRequired:  {ErrorAuth, 407},
	CondUndefinedCondition:    {ErrorCancel, 500},
	CondUnexpectedRequest:     {ErrorWait, 400},
}

// StanzaConds returns the stanza error conditions of RFC 6120 section 8.3.3, for messages
// that list them.
func StanzaConds() []Cond {
	out := make([]Cond, 0, len(stanzaCondTable))
	for c := range stanzaCondTable {
		out = append(out, c)
	}
	return out
}

// DefaultType returns the error type RFC 6120 section 8.3.3 says the stanza error
// condition c SHOULD carry, and whether c is a stanza error condition at all.
func (c Cond) DefaultType() (ErrorType, bool) {
	sc, ok := stanzaCondTable[c]
	return sc.typ, ok
}

// LegacyCode returns the error code of XEP-0086 for the stanza error condition c, or 0
// when it has none.
func (c Cond) LegacyCode() int { return stanzaCondTable[c].code }
