package inspect

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
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
