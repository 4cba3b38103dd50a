package rules

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// jidPattern matches XMPP addresses. Forms: `*` (anything, even no address), `domain`,
// `user@domain`, `user@domain/resource`, each part possibly holding `*` wildcards
// (`*@example.org`, `alice@*`, `alice@example.org/*`, `*.example.org`).
//
// A pattern without a resource matches the address with any resource or none (a bare
// pattern stands for the account); with `/res` the address must have a resource that
// matches. A pattern without `@` matches only addresses with no localpart (servers and
// components). Localparts and domains compare without case, resources exactly.
type jidPattern struct {
	any                     bool
	local, domain, resource string
	hasLocal, hasResource   bool
	// first is the first character (lower case) of every address the pattern matches,
	// when it starts with one (not with '*'), else 0: most addresses a pattern does not
	// match differ there, and a look at one byte rules them out (rulesOut).
	first byte
}

// parseJIDPattern checks and compiles a pattern.
func parseJIDPattern(s string) (*jidPattern, error) {
	if s == "*" {
		return &jidPattern{any: true}, nil
	}
	if s == "" {
		return nil, fmt.Errorf("empty JID pattern")
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("JID pattern %q is not valid UTF-8", s)
	}
	if i := strings.IndexAny(s, " \t\r\n\"&'<>"); i >= 0 {
		return nil, fmt.Errorf("JID pattern %q: character %q is not allowed in an address", s, s[i])
	}
	p := &jidPattern{}
	rest := s
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		p.hasResource, p.resource, rest = true, rest[i+1:], rest[:i]
		if p.resource == "" {
			return nil, fmt.Errorf("JID pattern %q: empty resource after '/'", s)
		}
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		p.hasLocal, p.local, rest = true, asciiLower(rest[:i]), rest[i+1:]
		if p.local == "" {
			return nil, fmt.Errorf("JID pattern %q: empty localpart before '@'", s)
		}
		if strings.IndexByte(rest, '@') >= 0 {
			return nil, fmt.Errorf("JID pattern %q: more than one '@'", s)
		}
	}
	p.domain = asciiLower(strings.TrimSuffix(rest, "."))
	if p.domain == "" {
		return nil, fmt.Errorf("JID pattern %q: empty domain", s)
	}
	// The parts in one string, which a match reads together (one cache line, not three).
	all := p.local + p.domain + p.resource
	l, d := len(p.local), len(p.domain)
	p.local, p.domain, p.resource = all[:l], all[l:l+d], all[l+d:]
	if all[0] != '*' {
		p.first = all[0]
	}
	return p, nil
}

// rulesOut reports, by its first byte, that the address raw as written in a stanza (entity
// references not expanded) does not match: it is empty, or it starts with another
// character than the pattern (an entity reference there may be any). false: match it.
func (p *jidPattern) rulesOut(raw []byte) bool {
	if p.first == 0 {
		return false
	}
	if len(raw) == 0 {
		return true
	}
	c := raw[0]
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	return c != '&' && c != p.first
}

// match reports whether the address jid matches. jid is split as RFC 7622 says (resource
// after the first '/', localpart before an '@' that precedes it); it is not normalised
// beyond case folding, because stanzas on the wire are already in canonical form.
func (p *jidPattern) match(jid string) bool { return matchJID(p, jid) }

// matchBytes is match on an address as written in a stanza's bytes (no entity
// references), without building a string: the proxy's breakpoints match every stanza.
func (p *jidPattern) matchBytes(jid []byte) bool { return matchJID(p, jid) }

func matchJID[T string | []byte](p *jidPattern, jid T) bool {
	if p.any {
		return true
	}
	if len(jid) == 0 {
		return false
	}
	// The localpart first: it is before the first '@' that comes before any '/', and most
	// addresses a pattern does not match differ there, so the rest is not even scanned.
	at := -1
	for i := 0; i < len(jid); i++ {
		if c := jid[i]; c == '@' {
			at = i
			break
		} else if c == '/' {
			break
		}
	}
	if hasLocal := at >= 0; hasLocal != p.hasLocal {
		return false
	}
	rest := jid
	if at >= 0 {
		if !glob(p.local, jid[:at], true) {
			return false
		}
		rest = jid[at+1:]
	}
	if i := indexByte(rest, '/'); i >= 0 {
		if p.hasResource && !glob(p.resource, rest[i+1:], false) {
			return false
		}
		rest = rest[:i]
	} else if p.hasResource {
		return false
	}
	if n := len(rest); n > 0 && rest[n-1] == '.' {
		rest = rest[:n-1]
	}
	return glob(p.domain, rest, true)
}

func indexByte[T string | []byte](s T, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// glob matches s against pattern, where `*` stands for any run of characters (possibly
// empty) and everything else is literal. fold compares ASCII without case (the pattern is
// already lower case). Iterative with one backtrack point: linear-ish, never exponential.
func glob[T string | []byte](pattern string, s T, fold bool) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		if px < len(pattern) {
			c := pattern[px]
			if c == '*' {
				starP, starS = px, sx
				px++
				continue
			}
			b := s[sx]
			if fold && 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			if c == b {
				px++
				sx++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		px, sx = starP+1, starS
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// asciiLower lowers ASCII letters only, as glob folds: addresses on the wire are already
// case-mapped (RFC 7622), so only what a person types in a rule file needs folding.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
