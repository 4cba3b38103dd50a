package inspect

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// nsViolations are stanzas that are well-formed XML but not namespace-well-formed
// (Namespaces in XML 1.0), each with the start of the text the reader gives.
var nsViolations = []struct {
	name, in, text string
}{
	{"xml prefix rebound", "<message xmlns:xml='urn:other' xml:lang='en'/>", "the prefix xml is bound to"},
	{"xmlns prefix declared", "<message xmlns:xmlns='urn:x'/>", "the prefix xmlns cannot be declared"},
	{"XML namespace on another prefix", "<message xmlns:x='http://www.w3.org/XML/1998/namespace' x:lang='en'/>", "the namespace http://www.w3.org/XML/1998/namespace is bound to the prefix xml"},
	{"xmlns namespace declared", "<message xmlns:x='http://www.w3.org/2000/xmlns/'/>", "the namespace http://www.w3.org/2000/xmlns/ cannot be declared"},
	{"xmlns namespace as default", "<message><x xmlns='http://www.w3.org/2000/xmlns/'/></message>", "the namespace http://www.w3.org/2000/xmlns/ cannot be the default namespace"},
	{"XML namespace as default", "<message xmlns='http://www.w3.org/XML/1998/namespace'/>", "the namespace http://www.w3.org/XML/1998/namespace cannot be the default namespace"},
	{"one attribute through two prefixes", "<message xmlns:a='urn:x' xmlns:b='urn:x' a:x='1' b:x='2'/>", "attributes a:x and b:x are the same attribute {urn:x}x"},
	{"one attribute through a parent's prefixes", "<message xmlns:a='urn:x'><y xmlns:b='urn:x' a:z='1' b:z='2'/></message>", "attributes a:z and b:z are the same attribute"},
	{"one attribute through escaped namespaces", "<message xmlns:a='urn:&#120;' xmlns:b='urn:x' a:y='' b:y=''/>", "attributes a:y and b:y are the same attribute"},
	{"one attribute among many prefixed ones", "<message xmlns:a='urn:x' xmlns:b='urn:x'" + attrs(10, "a:n%d='%d'") + " b:n7='x'/>", "attributes a:n7 and b:n7 are the same attribute"},
	{"one attribute through the header's prefixes", "<message ha:x='1' hb:x='2'/>", "attributes ha:x and hb:x are the same attribute"},
	{"empty prefix binding", "<message xmlns:p=''/>", "a namespace prefix cannot be undeclared"},
	{"undeclared element prefix", "<p:message/>", `namespace prefix "p" is not declared`},
	{"undeclared attribute prefix", "<message><x p:a='1'/></message>", `namespace prefix "p" is not declared`},
	{"element with the xmlns prefix", "<xmlns:message/>", "an element name cannot have the prefix xmlns"},
	{"prefix out of scope", "<message><x xmlns:p='urn:p'/><p:y/></message>", `namespace prefix "p" is not declared`},
	{"two colons", "<message xmlns:a='urn:a'><a:b:c/></message>", `"a:b:c" is not a valid qualified name`},
}

// nsHeader declares two prefixes for one namespace, so stanzas can misuse them.
const nsHeader = `<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:ha='urn:h' xmlns:hb='urn:h' version='1.0'>`

func TestReaderNamespaceViolations(t *testing.T) {
	for _, tc := range nsViolations {
		t.Run(tc.name, func(t *testing.T) {
			for _, one := range []bool{false, true} {
				var src io.Reader = strings.NewReader(nsHeader + tc.in)
				if one {
					src = iotest.OneByteReader(src)
				}
				evs, err := readEvents(NewReader(src, Limits{}))
				se := AsStreamError(err)
				if se == nil || se.Condition != CondNotWellFormed || !strings.HasPrefix(se.Text, tc.text) {
					t.Fatalf("one byte %v: got %v after %d events, want not-well-formed %q", one, err, len(evs), tc.text)
				}
				if !strings.Contains(se.Section, "RFC 6120 §11.3") {
					t.Errorf("section %q", se.Section)
				}
			}
		})
	}
}

func TestReaderNamespaceWellFormed(t *testing.T) {
	for _, in := range []string{
		"<message xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>",
		"<message xmlns:a='urn:x' xmlns:b='urn:y' a:x='' b:x=''/>",
		"<message x='' a:x='' xmlns:a='urn:a'/>",
		"<message ha:x='1' xmlns:hb='urn:other' hb:x='2'/>", // hb rebound: two namespaces
		"<message xmlns:a='urn:x'><y xmlns:a='urn:y' xmlns:b='urn:x' a:z='1' b:z='2'/></message>",
		"<message xml:lang='en'><body xml:lang='de'>x</body></message>",
	} {
		if _, err := readEvents(NewReader(strings.NewReader(nsHeader+in), Limits{})); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
}

func TestReaderHeaderNamespaceViolations(t *testing.T) {
	const open = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'`
	for _, tc := range []struct{ name, in, text string }{
		{"xml prefix rebound", open + " xmlns:xml='urn:x'>", "the prefix xml is bound to"},
		{"xmlns prefix declared", open + " xmlns:xmlns='urn:x'>", "the prefix xmlns cannot be declared"},
		{"XML namespace on another prefix", open + " xmlns:x='http://www.w3.org/XML/1998/namespace'>", "the namespace http://www.w3.org/XML/1998/namespace is bound"},
		{"one attribute through two prefixes", open + " xmlns:a='urn:x' xmlns:b='urn:x' a:v='1' b:v='2'>", "attributes a:v and b:v are the same attribute"},
		{"empty prefix binding", open + " xmlns:p=''>", "a namespace prefix cannot be undeclared"},
		{"undeclared attribute prefix", open + " p:v='1'>", `namespace prefix "p" is not declared`},
		{"undeclared stream prefix", "<stream:stream xmlns='jabber:client'>", `namespace prefix "stream" of the stream header is not declared`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readEvents(NewReader(strings.NewReader(tc.in), Limits{}))
			se := AsStreamError(err)
			if se == nil || se.Condition != CondNotWellFormed || !strings.HasPrefix(se.Text, tc.text) {
				t.Fatalf("got %v, want not-well-formed %q", err, tc.text)
			}
		})
	}
}
