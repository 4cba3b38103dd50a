package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/stanzascope/stanzascope/inspect"
)

// Limits on a filter expression: what a person types, so generous, but bounded.
const (
	maxFilterLen        = 4096
	maxFilterDepth      = 32
	maxFilterConditions = 128
)

// FilterError is an expression that does not parse: what is wrong, and where (the column
// of the character, counted from 1).
type FilterError struct {
	Col int
	Msg string
}

func (e *FilterError) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

// filterKeys are the conditions of the language, with their other spellings.
var filterKeys = map[string]string{
	"dir": "dir", "direction": "dir",
	"name": "name", "element": "name",
	"type":  "type",
	"from":  "from",
	"to":    "to",
	"jid":   "jid",
	"bound": "bound",
	"ns":    "ns", "namespace": "ns",
	"xpath":   "xpath",
	"origin":  "origin",
	"verdict": "verdict",
	"conn":    "conn", "connection": "conn",
	"kind": "kind",
}

// ParseFilter compiles a filter expression (see Filter). An expression that does not parse
// is a *FilterError that says where.
func ParseFilter(expr string) (*Filter, error) {
	if len(expr) > maxFilterLen {
		return nil, &FilterError{Col: 1, Msg: fmt.Sprintf("the expression is longer than %d bytes", maxFilterLen)}
	}
	if !utf8.ValidString(expr) {
		return nil, &FilterError{Col: 1, Msg: "the expression is not UTF-8"}
	}
	toks, err := lexFilter(expr)
	if err != nil {
		return nil, err
	}
	p := &filterParser{src: expr, toks: toks}
	if len(toks) == 0 {
		return nil, &FilterError{Col: 1, Msg: "empty expression (conditions: " + keyList() + ")"}
	}
	root, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t != nil {
		return nil, p.errAt(t, "unexpected %s (join conditions with and, or, not and parentheses)", t.describe())
	}
	return newFilter(expr, root, p.warnings), nil
}

func keyList() string {
	seen := map[string]bool{}
	var out []string
	for _, k := range filterKeys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

type ftokKind uint8

const (
	tWord   ftokKind = iota // a bare word: key, operator or value
	tString                 // a quoted value
	tLParen
	tRParen
	tComma
	tEquals
)

type ftok struct {
	kind ftokKind
	text string // the word, or the unquoted string
	off  int    // byte offset in the expression
}

func (t *ftok) describe() string {
	switch t.kind {
	case tLParen:
		return "'('"
	case tRParen:
		return "')'"
	case tComma:
		return "','"
	case tEquals:
		return "'='"
	case tString:
		return strconv.Quote(t.text)
	}
	return "'" + t.text + "'"
}

// lexFilter splits an expression into tokens: ( ) , = quoted strings ('...' or "...", with
// \ escaping the quote and itself) and words (everything else up to a space or one of
// those characters).
func lexFilter(s string) ([]ftok, error) {
	var toks []ftok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, ftok{kind: tLParen, off: i})
			i++
		case c == ')':
			toks = append(toks, ftok{kind: tRParen, off: i})
			i++
		case c == ',':
			toks = append(toks, ftok{kind: tComma, off: i})
			i++
		case c == '=':
			toks = append(toks, ftok{kind: tEquals, off: i})
			i++
		case c == '\'' || c == '"':
			start := i
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == c || s[i+1] == '\\') {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == c {
					closed = true
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, &FilterError{Col: column(s, start), Msg: "a quoted value is not closed"}
			}
			toks = append(toks, ftok{kind: tString, text: b.String(), off: start})
		default:
			start := i
			for i < len(s) && !strings.ContainsRune(" \t\n\r(),='\"", rune(s[i])) {
				i++
			}
			toks = append(toks, ftok{kind: tWord, text: s[start:i], off: start})
		}
	}
	return toks, nil
}

// column is the 1-based column of byte offset off, counted in characters.
func column(s string, off int) int { return utf8.RuneCountInString(s[:off]) + 1 }

type filterParser struct {
	src        string
	toks       []ftok
	i          int
	conditions int
	warnings   []string
}

func (p *filterParser) peek() *ftok {
	if p.i < len(p.toks) {
		return &p.toks[p.i]
	}
	return nil
}

func (p *filterParser) errAt(t *ftok, format string, args ...any) error {
	off := len(p.src)
	if t != nil {
		off = t.off
	}
	return &FilterError{Col: column(p.src, off), Msg: fmt.Sprintf(format, args...)}
}

func isWord(t *ftok, words ...string) bool {
	if t == nil || t.kind != tWord {
		return false
	}
	for _, w := range words {
		if strings.EqualFold(t.text, w) {
			return true
		}
	}
	return false
}

// or := and { ("or" | "||") and }
func (p *filterParser) or(depth int) (fnode, error) {
	n, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for isWord(p.peek(), "or", "||") {
		p.i++
		m, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		n = fOr{n, m}
	}
	return n, nil
}

// and := unary { ["and" | "&&"] unary }: two conditions side by side are both required.
func (p *filterParser) and(depth int) (fnode, error) {
	n, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case isWord(t, "and", "&&"):
			p.i++
		case t != nil && (t.kind == tLParen || (t.kind == tWord && !isWord(t, "or", "||"))):
			// implicit and
		default:
			return n, nil
		}
		m, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		n = fAnd{n, m}
	}
}

// unary := ("not" | "!") unary | "(" or ")" | condition
func (p *filterParser) unary(depth int) (fnode, error) {
	if depth > maxFilterDepth {
		return nil, p.errAt(p.peek(), "nested more than %d deep", maxFilterDepth)
	}
	t := p.peek()
	switch {
	case t == nil:
		return nil, p.errAt(nil, "the expression ends where a condition should come (conditions: %s)", keyList())
	case isWord(t, "not", "!"):
		p.i++
		n, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return fNot{n}, nil
	case t.kind == tLParen:
		p.i++
		n, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c == nil || c.kind != tRParen {
			return nil, p.errAt(c, "')' expected to close the '(' at column %d", column(p.src, t.off))
		}
		p.i++
		return n, nil
	}
	return p.condition()
}

// condition := key ["="] value {"," value}
func (p *filterParser) condition() (fnode, error) {
	t := p.peek()
	if t.kind != tWord || isWord(t, "and", "or", "&&", "||") {
		return nil, p.errAt(t, "a condition (%s) expected, not %s", keyList(), t.describe())
	}
	key, ok := filterKeys[strings.ToLower(t.text)]
	if !ok {
		msg := fmt.Sprintf("unknown condition %s (conditions: %s)", t.describe(), keyList())
		if s := closest(strings.ToLower(t.text), sortedKeys()); s != "" {
			msg = fmt.Sprintf("unknown condition %s: did you mean %s? (conditions: %s)", t.describe(), s, keyList())
		}
		return nil, p.errAt(t, "%s", msg)
	}
	p.conditions++
	if p.conditions > maxFilterConditions {
		return nil, p.errAt(t, "more than %d conditions", maxFilterConditions)
	}
	p.i++
	if e := p.peek(); e != nil && e.kind == tEquals {
		p.i++
	}
	var vals []*ftok
	for {
		v := p.peek()
		if v == nil || (v.kind != tWord && v.kind != tString) || (v.kind == tWord && isWord(v, "and", "or", "not", "&&", "||", "!")) {
			return nil, p.errAt(v, "a value for %s expected", key)
		}
		vals = append(vals, v)
		p.i++
		if c := p.peek(); c == nil || c.kind != tComma {
			break
		}
		p.i++
	}
	return p.compile(key, vals)
}

// compile checks the values of a condition and builds it.
func (p *filterParser) compile(key string, vals []*ftok) (fnode, error) {
	n := &fCond{key: key, k: fkeyOf(key)}
	for _, v := range vals {
		s := v.text
		bad := func(format string, args ...any) error {
			return p.errAt(v, "%s: "+format, append([]any{key}, args...)...)
		}
		switch key {
		case "dir":
			if len(vals) > 1 {
				return nil, bad("one direction only (c2s or s2c)")
			}
			d, ok := inspect.ParseDirection(s)
			if !ok || d == inspect.DirNone {
				return nil, bad("c2s (client-to-server) or s2c (server-to-client), not %q", s)
			}
			n.dir = d
		case "name":
			if !nameRE.MatchString(s) {
				return nil, bad("%q is not an XML element name", s)
			}
			n.rules = append(n.rules, &rule{elements: []string{s}})
			p.warnUnknown("an element named", s, knownElements)
		case "type":
			if s == "" {
				return nil, bad("empty type")
			}
			n.rules = append(n.rules, &rule{types: []string{s}})
			p.warnUnknown("the type", s, knownTypes)
		case "from", "to", "jid", "bound":
			pat, err := parseJIDPattern(s)
			if err != nil {
				return nil, bad("%v", err)
			}
			n.pats = append(n.pats, *pat)
			switch key {
			case "from":
				n.rules = append(n.rules, &rule{from: pat})
			case "to":
				n.rules = append(n.rules, &rule{to: pat})
			default:
				n.rules = append(n.rules, &rule{bound: pat})
			}
		case "ns":
			if s == "" {
				return nil, bad("empty namespace")
			}
			n.rules = append(n.rules, &rule{namespaces: []string{s}})
		case "xpath":
			if len(vals) > 1 {
				return nil, bad("one expression only (quote it: xpath \"//body\")")
			}
			x, err := compileXPath(s, map[string]string{"xml": inspect.NSXML})
			if err != nil {
				return nil, bad("%v", err)
			}
			n.rules = append(n.rules, &rule{xp: x, hint: literalHint(s)})
		case "origin":
			o, ok := inspect.ParseOrigin(s)
			if !ok || o == inspect.OriginUnknown {
				return nil, bad("client, server or proxy, not %q", s)
			}
			n.origins = append(n.origins, o)
		case "verdict":
			vd, ok := parseVerdict(s)
			if !ok {
				return nil, bad("forwarded, dropped, rejected, injected or delayed, not %q", s)
			}
			n.verdicts = append(n.verdicts, vd)
		case "conn":
			id, err := strconv.ParseUint(strings.TrimPrefix(s, "#"), 10, 64)
			if err != nil || id == 0 {
				return nil, bad("a connection number (1, 2, ...), not %q", s)
			}
			n.conns = append(n.conns, id)
		case "kind":
			k, ok := inspect.ParseKind(s)
			if !ok {
				return nil, bad("%q is not a kind of record (stanza, open, close, note, error, conn-open, conn-close, gap, whitespace)", s)
			}
			n.kinds = append(n.kinds, k)
		}
	}
	return n, nil
}

func parseVerdict(s string) (inspect.Verdict, bool) {
	switch v := inspect.Verdict(s); v {
	case inspect.Dropped, inspect.Rejected, inspect.Injected, inspect.Delayed:
		return v, true
	}
	if s == "forwarded" {
		return inspect.Forwarded, true
	}
	return "", false
}

func sortedKeys() []string {
	out := make([]string, 0, len(filterKeys))
	for k := range filterKeys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// warnUnknown warns about a name or a type that no XMPP specification we know uses.
func (p *filterParser) warnUnknown(what, s string, known []string) {
	for _, k := range known {
		if s == k {
			return
		}
	}
	w := fmt.Sprintf("no XMPP specification we know uses %s %q, so it may match nothing", what, s)
	if c := closest(s, known); c != "" {
		w += "; did you mean " + c + "?"
	}
	p.warnings = append(p.warnings, w)
}

// ElementNameWarning and TypeWarning check a name or a type given outside an expression
// (the --filter-name and --filter-type flags); "" when it is a known one.
func ElementNameWarning(s string) string { return oneWarning("an element named", s, knownElements) }

// TypeWarning: see ElementNameWarning.
func TypeWarning(s string) string { return oneWarning("the type", s, knownTypes) }

func oneWarning(what, s string, known []string) string {
	p := &filterParser{}
	p.warnUnknown(what, s, known)
	if len(p.warnings) == 0 {
		return ""
	}
	return p.warnings[0]
}

// knownElements are the top-level elements of the XMPP specifications: stanzas (RFC 6120),
// stream features and errors, STARTTLS, SASL (RFC 6120, XEP-0388), compression
// (XEP-0138), stream management (XEP-0198), component handshake (XEP-0114), dialback
// (XEP-0220), the WebSocket framing (RFC 7395).
var knownElements = []string{
	"message", "presence", "iq",
	"stream", "features", "error",
	"starttls", "proceed", "failure",
	"auth", "challenge", "response", "success", "abort",
	"authenticate", "continue", "next",
	"compress", "compressed",
	"enable", "enabled", "resume", "resumed", "failed", "r", "a",
	"handshake", "result", "verify",
	"open", "close",
}

// knownTypes are the types of the three stanzas (RFC 6120, RFC 6121), with the defaults
// a filter uses for a message or a presence without one.
var knownTypes = []string{
	"chat", "error", "groupchat", "headline", "normal",
	"available", "unavailable", "subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe",
	"get", "set", "result",
}

// closest returns the known word nearest to s, when it is near enough to be a typo: at
// most two edits, and fewer than half the word.
func closest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(s), k, bestD); d < bestD && d*2 <= len(k) && d < len(k) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or limit when it is at least that
// (names are short; the limit keeps a long input cheap).
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
