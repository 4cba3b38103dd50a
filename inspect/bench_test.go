package inspect

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// benchStream is a corpus of typical client-to-server traffic: chat messages, presences
// with capabilities, roster and disco iqs, pings and keep-alives.
func benchStream(n int) []byte {
	var b bytes.Buffer
	b.WriteString(testHeader)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "<message to='dana@localhost' from='mr_praline@localhost/telnet' type='chat' id='m%d'>"+
			"<body>I wish to complain about this parrot what I purchased not half an hour ago from this very boutique. &apos;%d&apos;</body>"+
			"<thread>7d1f3c</thread><active xmlns='http://jabber.org/protocol/chatstates'/></message>", i, i)
		fmt.Fprintf(&b, "<presence id='p%d'><show>away</show><status>Pining for the fjords</status><priority>5</priority>"+
			"<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://slixmpp.com' ver='IvQz2Ah2g4n8b8nKMNFbOjuQGw0='/></presence>", i)
		fmt.Fprintf(&b, "<iq type='result' id='r%d' to='mr_praline@localhost/telnet'><query xmlns='jabber:iq:roster' ver='%d'>"+
			"<item jid='dana@localhost' name='Dana' subscription='both'><group>Shop</group></item>"+
			"<item jid='jane@localhost' subscription='to'/></query></iq>", i, i)
		fmt.Fprintf(&b, "<iq type='get' id='ping%d' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq> ", i)
	}
	return b.Bytes()
}

// BenchmarkFrame measures framing a stream into stanzas without building trees.
func BenchmarkFrame(b *testing.B) {
	data := benchStream(500)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	src := bytes.NewReader(data)
	stanzas := 0
	for b.Loop() {
		src.Reset(data)
		r := NewReader(src, Limits{})
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if ev.Kind == KindStanza {
				stanzas++
			}
		}
	}
	b.ReportMetric(float64(stanzas)/float64(b.N), "stanzas/op")
}

// BenchmarkFrameAndParse measures framing plus building every stanza's tree.
func BenchmarkFrameAndParse(b *testing.B) {
	data := benchStream(500)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	src := bytes.NewReader(data)
	for b.Loop() {
		src.Reset(data)
		r := NewReader(src, Limits{})
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if ev.Kind == KindStanza {
				if _, err := ParseElement(ev.Raw, ev.Header); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkStdlibRawToken is the baseline: encoding/xml's tokenizer over the same bytes.
func BenchmarkStdlibRawToken(b *testing.B) {
	data := benchStream(500)
	data = append(data, "</stream:stream>"...)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	src := bytes.NewReader(data)
	for b.Loop() {
		src.Reset(data)
		d := xml.NewDecoder(src)
		for {
			_, err := d.RawToken()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkFrameOneStanza reports the allocations of framing one stanza in a long stream.
func BenchmarkFrameOneStanza(b *testing.B) {
	one := []byte("<message to='dana@localhost' type='chat' id='x'><body>Hello there &amp; welcome</body></message>")
	r := NewReader(io.MultiReader(bytes.NewReader([]byte(testHeader)), &repeater{data: one}), Limits{})
	if _, err := r.Next(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

type repeater struct {
	data []byte
	off  int
}

func (r *repeater) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

// manyAttrs returns a start tag's attributes: n plain ones, n namespace declarations, or
// n/2 declarations each used by one prefixed attribute, with short distinct names.
func manyAttrs(kind string, n int) string {
	var b strings.Builder
	for i := range n {
		id := strconv.FormatInt(int64(i), 36)
		switch kind {
		case "attrs":
			b.WriteString(" a" + id + "=''")
		case "decls":
			b.WriteString(" xmlns:p" + id + "='u'")
		case "prefixed":
			if i%2 == 0 {
				b.WriteString(" xmlns:p" + id + "='u" + id + "'")
			} else {
				b.WriteString(" p" + strconv.FormatInt(int64(i-1), 36) + ":a=''")
			}
		}
	}
	return b.String()
}

// BenchmarkManyAttributes shows that a start tag costs time linear in its size however
// many attributes and namespace declarations it has: ns/byte stays flat from 1 to 40,000
// attributes per tag. Each stream holds about 300 KB of stanzas whose start tags carry n
// attributes each (one tag at 40,000); the header/* cases are the attack of issue 10, one
// stream header of n attributes. The limits are raised so that the work is measured
// rather than refused (with DefaultLimits the 65th attribute ends the stream).
func BenchmarkManyAttributes(b *testing.B) {
	lim := Limits{MaxStanza: 4 << 20, MaxAttrs: 1 << 20, MaxNamespaces: 1 << 20}
	const hdr = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'`
	const size = 300 << 10
	cases := []struct {
		name string
		data func(n int) []byte
	}{
		{"attrs", func(n int) []byte { return stanzas(hdr+">", "<message"+manyAttrs("attrs", n)+"/>", size) }},
		{"decls", func(n int) []byte { return stanzas(hdr+">", "<message"+manyAttrs("decls", n)+"/>", size) }},
		{"prefixed", func(n int) []byte { return stanzas(hdr+">", "<message"+manyAttrs("prefixed", n)+"/>", size) }},
		{"header-attrs", func(n int) []byte { return []byte(hdr + manyAttrs("attrs", n) + ">") }},
		{"header-decls", func(n int) []byte { return []byte(hdr + manyAttrs("decls", n) + ">") }},
	}
	for _, c := range cases {
		for _, n := range []int{1, 10, 100, 1000, 10000, 40000} {
			if strings.HasPrefix(c.name, "header") && n < 1000 {
				continue // a short header is all setup: see the stanza cases
			}
			data := c.data(n)
			b.Run(fmt.Sprintf("%s/%d", c.name, n), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				src := bytes.NewReader(data)
				for b.Loop() {
					src.Reset(data)
					r := NewReader(src, lim)
					for {
						_, err := r.Next()
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(data)), "ns/byte")
			})
		}
	}
}

// stanzas returns hdr followed by copies of stanza up to about size bytes (at least one).
func stanzas(hdr, stanza string, size int) []byte {
	var b bytes.Buffer
	b.WriteString(hdr)
	for b.Len() < size || b.Len() == len(hdr) {
		b.WriteString(stanza)
	}
	return b.Bytes()
}

// BenchmarkAttributeFlood is issue 10's attack with the default limits: a stream header
// of 40,000 attributes. The reader refuses it at the 65th attribute (policy-violation).
func BenchmarkAttributeFlood(b *testing.B) {
	const hdr = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'`
	for _, kind := range []string{"attrs", "decls"} {
		data := []byte(hdr + manyAttrs(kind, 40000) + ">")
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			src := bytes.NewReader(data)
			for b.Loop() {
				src.Reset(data)
				_, err := NewReader(src, Limits{}).Next()
				if se := AsStreamError(err); se == nil || se.Condition != CondPolicyViolation {
					b.Fatal(err)
				}
			}
		})
	}
}
