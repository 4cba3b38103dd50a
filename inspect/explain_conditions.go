package inspect

import "fmt"

// condition is an error condition with its meaning and the section that defines it.
type condition struct{ meaning, section string }

// streamConditions are the stream error conditions of RFC 6120 section 4.9.3.
var streamConditions = map[string]condition{
	"bad-format":               {"the XML was well-formed but broke XMPP's rules", "§4.9.3.1"},
	"bad-namespace-prefix":     {"an unsupported namespace prefix was used", "§4.9.3.2"},
	"conflict":                 {"a newer stream for the same address replaced this one", "§4.9.3.3"},
	"connection-timeout":       {"nothing came for too long (for example, no login in time)", "§4.9.3.4"},
	"host-gone":                {"the domain in 'to' is no longer served here", "§4.9.3.5"},
	"host-unknown":             {"the domain in 'to' is not served here", "§4.9.3.6"},
	"improper-addressing":      {"a stanza lacked a required 'to' or 'from'", "§4.9.3.7"},
	"internal-server-error":    {"the server broke down", "§4.9.3.8"},
	"invalid-from":             {"the 'from' address is not one this peer may use", "§4.9.3.9"},
	"invalid-namespace":        {"the stream or content namespace is wrong", "§4.9.3.10"},
	"invalid-xml":              {"the XML was invalid", "§4.9.3.11"},
	"not-authorized":           {"a stanza was sent before logging in", "§4.9.3.12"},
	"not-well-formed":          {"the bytes are not well-formed XML", "§4.9.3.13"},
	"policy-violation":         {"a local rule was broken (for example, a stanza too big)", "§4.9.3.14"},
	"remote-connection-failed": {"the server could not reach a remote server it needed", "§4.9.3.15"},
	"reset":                    {"the stream is being reset (for example, credentials changed)", "§4.9.3.16"},
	"resource-constraint":      {"the server lacks resources to serve the stream", "§4.9.3.17"},
	"restricted-xml":           {"XML that XMPP forbids was sent (comment, DTD, processing instruction, entity)", "§4.9.3.18"},
	"see-other-host":           {"the client should connect to another host", "§4.9.3.19"},
	"system-shutdown":          {"the server is shutting down", "§4.9.3.20"},
	"undefined-condition":      {"a condition not listed in the RFC (see the application-specific element)", "§4.9.3.21"},
	"unsupported-encoding":     {"the stream is not UTF-8", "§4.9.3.22"},
	"unsupported-feature":      {"a required stream feature is not supported", "§4.9.3.23"},
	"unsupported-stanza-type":  {"a top-level element the server does not know was sent", "§4.9.3.24"},
	"unsupported-version":      {"the stream version is not supported", "§4.9.3.25"},
}

// stanzaConditions are the stanza error conditions of RFC 6120 section 8.3.3.
var stanzaConditions = map[string]condition{
	"bad-request":             {"the request was malformed", "§8.3.3.1"},
	"conflict":                {"it clashes with something that exists (a name already taken)", "§8.3.3.2"},
	"feature-not-implemented": {"the recipient does not implement this", "§8.3.3.3"},
	"forbidden":               {"the sender may not do this", "§8.3.3.4"},
	"gone":                    {"the recipient moved away", "§8.3.3.5"},
	"internal-server-error":   {"the server broke down", "§8.3.3.6"},
	"item-not-found":          {"the addressed item does not exist", "§8.3.3.7"},
	"jid-malformed":           {"an address is not a valid JID", "§8.3.3.8"},
	"not-acceptable":          {"the request is understood but refused (a missing or bad field)", "§8.3.3.9"},
	"not-allowed":             {"nobody may do this", "§8.3.3.10"},
	"not-authorized":          {"wrong or missing credentials", "§8.3.3.11"},
	"policy-violation":        {"a local rule was broken", "§8.3.3.12"},
	"recipient-unavailable":   {"the recipient is offline", "§8.3.3.13"},
	"redirect":                {"use another address", "§8.3.3.14"},
	"registration-required":   {"register first", "§8.3.3.15"},
	"remote-server-not-found": {"the recipient's server does not exist", "§8.3.3.16"},
	"remote-server-timeout":   {"the recipient's server did not answer in time", "§8.3.3.17"},
	"resource-constraint":     {"the recipient is too busy", "§8.3.3.18"},
	"service-unavailable":     {"no such service here (also the answer for unknown iq payloads)", "§8.3.3.19"},
	"subscription-required":   {"a presence subscription is needed first", "§8.3.3.20"},
	"undefined-condition":     {"a condition not listed in the RFC", "§8.3.3.21"},
	"unexpected-request":      {"the request came at the wrong time", "§8.3.3.22"},
}

// errorTypes says what each stanza error type asks the sender to do (RFC 6120 §8.3.2).
var errorTypes = map[string]string{
	"auth":     "authenticate first",
	"cancel":   "do not retry",
	"continue": "only a warning",
	"modify":   "change the data and retry",
	"wait":     "retry later",
}

// saslConditions are the SASL failure conditions of RFC 6120 section 6.5.
var saslConditions = map[string]condition{
	"aborted":                {"the client aborted", "§6.5.1"},
	"account-disabled":       {"the account is disabled", "§6.5.2"},
	"credentials-expired":    {"the password has expired", "§6.5.3"},
	"encryption-required":    {"this mechanism needs TLS first", "§6.5.4"},
	"incorrect-encoding":     {"the data was not valid base64", "§6.5.5"},
	"invalid-authzid":        {"the authorization identity is not allowed", "§6.5.6"},
	"invalid-mechanism":      {"the server does not offer that mechanism", "§6.5.7"},
	"malformed-request":      {"the request was malformed", "§6.5.8"},
	"mechanism-too-weak":     {"the mechanism is weaker than the server's policy allows", "§6.5.9"},
	"not-authorized":         {"wrong username or password", "§6.5.10"},
	"temporary-auth-failure": {"a temporary failure on the server: try again later", "§6.5.11"},
}

// describeCondition returns "cond: meaning (RFC 6120 §x)", or a plain mention of an unknown
// condition.
func describeCondition(table map[string]condition, cond string) string {
	if cond == "" {
		return "no condition given"
	}
	if c, ok := table[cond]; ok {
		return fmt.Sprintf("%s, %s (RFC 6120 %s)", cond, c.meaning, c.section)
	}
	return cond + " (not a condition defined by RFC 6120)"
}
