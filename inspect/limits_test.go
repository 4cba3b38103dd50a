package inspect

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// attrs returns n attributes " a0='v' a1='v' ...".
func attrs(n int, format string) string {
	var b strings.Builder
	for i := range n {
		b.WriteByte(' ')
		fmt.Fprintf(&b, format, i, i)
	}
	return b.String()
}

func TestReaderAttributeLimits(t *testing.T) {
	const hdrStart = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'`
	cases := []struct {
		name string
		in   string
		lim  Limits
		cond Cond // "" means accepted
	}{
		{"64 attributes on a stanza", testHeader + "<message" + attrs(64, "a%d='%d'") + "/>", Limits{}, ""},
		{"65 attributes on a stanza", testHeader + "<message" + attrs(65, "a%d='%d'") + "/>", Limits{}, CondPolicyViolation},
		{"65 attributes on a nested element", testHeader + "<message><x" + attrs(65, "a%d='%d'") + "/></message>", Limits{}, CondPolicyViolation},
		{"62 attributes on the header", hdrStart + attrs(62, "a%d='%d'") + ">", Limits{}, ""},
		{"63 attributes on the header", hdrStart + attrs(63, "a%d='%d'") + ">", Limits{}, CondPolicyViolation},
		{"raised attribute limit", testHeader + "<message" + attrs(1000, "a%d='%d'") + "/>", Limits{MaxAttrs: 1000}, ""},
		{"32 prefixes on a stanza", testHeader + "<message" + attrs(32, "xmlns:p%d='urn:%d'") + "/>", Limits{}, ""},
		{"33 prefixes on a stanza", testHeader + "<message" + attrs(33, "xmlns:p%d='urn:%d'") + "/>", Limits{}, CondPolicyViolation},
		{"33 prefixes in scope over two elements", testHeader + "<message" + attrs(20, "xmlns:p%d='urn:%d'") + "><x" + attrs(13, "xmlns:q%d='urn:%d'") + "/></message>", Limits{}, CondPolicyViolation},
		{"prefixes of siblings are not in scope together", testHeader + "<message><x" + attrs(30, "xmlns:p%d='urn:%d'") + "/><y" + attrs(30, "xmlns:p%d='urn:%d'") + "/></message>", Limits{}, ""},
		{"31 prefixes on the header", hdrStart + attrs(31, "xmlns:p%d='urn:%d'") + ">", Limits{}, ""},
		{"32 prefixes on the header", hdrStart + attrs(32, "xmlns:p%d='urn:%d'") + ">", Limits{}, CondPolicyViolation},
		{"duplicate beyond the pairwise threshold", testHeader + "<message" + attrs(40, "a%d='%d'") + " a17='x'/>", Limits{}, CondNotWellFormed},
		{"duplicate on the header beyond the threshold", hdrStart + attrs(20, "a%d='%d'") + " a3='x'>", Limits{}, CondNotWellFormed},
		{"no duplicate among many", testHeader + "<message" + attrs(60, "a%d='%d'") + "/>", Limits{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, one := range []bool{false, true} {
				var src io.Reader = strings.NewReader(tc.in)
				if one {
					src = iotest.OneByteReader(src)
				}
				_, err := readEvents(NewReader(src, tc.lim))
				if tc.cond == "" {
					if err != nil {
						t.Fatalf("one byte %v: %v", one, err)
					}
					continue
				}
				se := AsStreamError(err)
				if se == nil || se.Condition != tc.cond {
					t.Fatalf("one byte %v: got %v, want %s", one, err, tc.cond)
				}
			}
		})
	}
}

// Many prefixes in scope switch lookups to the index; shadowing and leaving scope must
// resolve exactly as the scan does.
func TestReaderPrefixIndex(t *testing.T) {
	lim := Limits{MaxNamespaces: 1000}
	var b strings.Builder
	b.WriteString(testHeader)
	b.WriteString("<message" + attrs(20, "xmlns:p%d='urn:outer:%d'") + ">")
	// p3 is shadowed inside x, then in scope again after it.
	b.WriteString("<x xmlns:p3='urn:inner' p3:a='1' p5:b='2'><p3:y/></x>")
	b.WriteString("<p3:z p19:c='3'/>")
	b.WriteString("</message>")
	b.WriteString("<p3:after xmlns:p3='urn:again'/>")
	b.WriteString("<message><p3:gone/></message>")
	for _, one := range []bool{false, true} {
		var src io.Reader = strings.NewReader(b.String())
		if one {
			src = iotest.OneByteReader(src)
		}
		evs, err := readEvents(NewReader(src, lim))
		se := AsStreamError(err)
		if se == nil || se.Condition != CondNotWellFormed || !strings.Contains(se.Text, `"p3" is not declared`) {
			t.Fatalf("one byte %v: the prefix out of scope: %v", one, err)
		}
		if len(evs) != 3 || evs[1].ns != NSClient || evs[2].ns != "urn:again" {
			t.Fatalf("one byte %v: events %+v", one, evs)
		}
	}
	// A prefix declared only inside a sibling leaves the index with it.
	in := testHeader + "<message" + attrs(20, "xmlns:p%d='urn:%d'") + "><x xmlns:q='urn:q'><q:y/></x><q:w/></message>"
	_, err := readEvents(NewReader(strings.NewReader(in), lim))
	if se := AsStreamError(err); se == nil || !strings.Contains(se.Text, `"q" is not declared`) {
		t.Fatalf("prefix out of scope after its element: %v", err)
	}
	// Resolution through the index, checked on the element's own namespace.
	in = testHeader + "<p0:m" + attrs(20, "xmlns:p%d='urn:%d'") + "><x xmlns:p0='urn:shadow'/></p0:m><p7:n" + attrs(12, "xmlns:p%d='urn:b%d'") + "/>"
	evs, err := readEvents(NewReader(strings.NewReader(in), lim))
	if err != nil || len(evs) != 3 || evs[1].ns != "urn:0" || evs[2].ns != "urn:b7" {
		t.Fatalf("%+v %v", evs, err)
	}
}

func TestDupFinder(t *testing.T) {
	var d dupFinder
	for _, n := range []int{0, 1, 2, 8, 9, 100, 5000} {
		keys := make([]int, n)
		for i := range keys {
			keys[i] = i
		}
		// A constant hash makes every key collide: the probe must still compare them all.
		for _, hash := range []func(int) uint64{func(i int) uint64 { return uint64(keys[i]) * 0x9E3779B97F4A7C15 }, func(int) uint64 { return 7 }} {
			if n > 1000 && hash(0) == 7 {
				continue // quadratic on purpose; not worth the time at this size
			}
			eq := func(i, j int) bool { return keys[i] == keys[j] }
			if dup, orig := d.first(n, hash, eq); dup != -1 || orig != -1 {
				t.Fatalf("n=%d: distinct keys reported as duplicates %d, %d", n, dup, orig)
			}
			if n < 2 {
				continue
			}
			keys[n-1] = keys[n/3]
			if dup, orig := d.first(n, hash, eq); dup != n-1 || orig != n/3 {
				t.Fatalf("n=%d: got %d, %d; want %d, %d", n, dup, orig, n-1, n/3)
			}
			keys[n-1] = n - 1
		}
	}
}
