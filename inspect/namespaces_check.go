package inspect

import (
	"bytes"
	"fmt"
	"hash/maphash"
)

// Where the rules the reader checks are written, for violations and stream errors.
const (
	secRestricted = "RFC 6120 §11.1"
	secEncoding   = "RFC 6120 §11.6"
	secWellFormed = "RFC 6120 §11.3, XML 1.0 §2"
	secUniqueAttr = "RFC 6120 §11.3, XML 1.0 §3.1"
	secNSDeclare  = "RFC 6120 §11.3, Namespaces in XML 1.0 §3"
	secNSPrefix   = "RFC 6120 §11.3, Namespaces in XML 1.0 §4"
	secNSUnique   = "RFC 6120 §11.3, Namespaces in XML 1.0 §6.3"
	secStreamNS   = "RFC 6120 §4.8.1"
	secRestart    = "RFC 6120 §4.3.3"
)

var nsXMLBytes = []byte(NSXML)

// checkDecls checks the namespace declarations of the current start tag against the
// reserved prefixes and names of Namespaces in XML 1.0 §3: xml is bound to the XML
// namespace and nothing else is, xmlns and its namespace are never declared, and a prefix
// is never undeclared (xmlns:p with an empty value).
func (r *Reader) checkDecls(b []byte) error {
	for _, a := range r.attrs {
		name := b[a.name.start:a.name.end]
		var text string
		switch {
		case a.colon < 0 && string(name) == "xmlns":
			v := b[a.value.start:a.value.end]
			// The usual default namespace is neither reserved name: shorter than both
			// (references only lengthen a value), or another length without a reference.
			if len(v) < len(NSXMLNS) || len(v) != len(NSXML) && len(v) != len(NSXMLNS) && bytes.IndexByte(v, '&') < 0 {
				break
			}
			switch string(unescapeBytes(v)) {
			case NSXML, NSXMLNS:
				text = "the namespace " + string(v) + " cannot be the default namespace"
			}
		case a.colon == 5 && string(name[:5]) == "xmlns":
			prefix, v := name[6:], unescapeBytes(b[a.value.start:a.value.end])
			switch {
			case string(prefix) == "xmlns":
				text = "the prefix xmlns cannot be declared"
			case string(prefix) == "xml" && string(v) != NSXML:
				text = fmt.Sprintf("the prefix xml is bound to %s, not to %q", NSXML, v)
			case len(v) == 0:
				text = "a namespace prefix cannot be undeclared (xmlns:p='')"
			case string(v) == NSXML && string(prefix) != "xml":
				text = fmt.Sprintf("the namespace %s is bound to the prefix xml, not to %s", NSXML, prefix)
			case string(v) == NSXMLNS:
				text = "the namespace " + NSXMLNS + " cannot be declared"
			}
		}
		if text != "" {
			if err := r.violate(int(a.name.start), CondNotWellFormed, secNSDeclare, text); err != nil {
				return err
			}
		}
	}
	return nil
}

// bindable reports whether a declaration brings a prefix into scope: one that undeclares
// (xmlns:p with an empty value, a violation) does not.
func bindable(a attrSpan) bool { return a.value.end > a.value.start }

// checkUnique checks that no two attributes of the current start tag of a stanza have the
// same local name in the same namespace through different prefixes (a:x and b:x with a
// and b bound to one namespace), once its declarations are in scope.
func (r *Reader) checkUnique(b []byte) error {
	if r.nPrefixed < 2 {
		return nil
	}
	r.qattrs = r.qattrs[:0]
	for k, a := range r.attrs {
		prefix := namePrefix(b, a.name, a.colon)
		if prefix == nil || string(prefix) == "xmlns" {
			continue
		}
		local := b[a.name.start+a.colon+1 : a.name.end]
		ns, ok := r.lookupPrefix(b, prefix)
		if !ok {
			continue // reported by checkPrefixes
		}
		r.qattrs = append(r.qattrs, qattr{attr: k, local: local, ns: ns})
	}
	if len(r.qattrs) < 2 {
		return nil
	}
	q := r.qattrs
	dup, orig := r.dups.first(len(q),
		func(i int) uint64 { return maphash.Bytes(dupSeed, q[i].ns) ^ maphash.Bytes(dupSeed, q[i].local)*31 },
		func(i, j int) bool { return bytes.Equal(q[i].local, q[j].local) && bytes.Equal(q[i].ns, q[j].ns) })
	if dup < 0 {
		return nil
	}
	a, o := r.attrs[q[dup].attr], r.attrs[q[orig].attr]
	return r.violate(int(a.name.start), CondNotWellFormed, secNSUnique,
		fmt.Sprintf("attributes %s and %s are the same attribute {%s}%s", b[o.name.start:o.name.end], b[a.name.start:a.name.end], q[dup].ns, q[dup].local))
}

// qattr is a prefixed attribute of the current start tag with its namespace resolved.
type qattr struct {
	attr  int
	local []byte
	ns    []byte
}

// checkHeaderUnique is checkUnique for a stream header, whose attributes are resolved.
func (r *Reader) checkHeaderUnique(h *Header) error {
	type key struct{ ns, local string }
	var seen map[key]int
	for k, a := range h.Attrs {
		if a.Prefix == "" || a.Prefix == "xmlns" || a.Space == "" {
			continue
		}
		if seen == nil {
			seen = make(map[key]int)
		}
		kk := key{a.Space, a.Local}
		if o, ok := seen[kk]; ok {
			return r.violate(int(r.attrs[k].name.start), CondNotWellFormed, secNSUnique,
				fmt.Sprintf("attributes %s:%s and %s:%s are the same attribute {%s}%s", h.Attrs[o].Prefix, a.Local, a.Prefix, a.Local, a.Space, a.Local))
		}
		seen[kk] = k
	}
	return nil
}

// maxViolations bounds the violations recorded on one event; beyond, they are counted.
const maxViolations = 8

// violate reports a breach of a rule that the reader can frame past (restricted XML,
// namespace well-formedness, characters) at the byte at offset i of the current event: a
// *StreamError, or in annotate mode nil once it is recorded on the event.
func (r *Reader) violate(i int, cond Cond, section, text string) error {
	se := r.errorSec(i, cond, section, text)
	if !r.lim.Annotate {
		return se
	}
	if len(r.viols) < maxViolations {
		r.viols = append(r.viols, Violation(*se))
	} else {
		r.violsMore++
	}
	return nil
}
