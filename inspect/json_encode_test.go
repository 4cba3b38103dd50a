package inspect

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAppendJSONMatchesEncodingJSON: the hand-written encoder writes what encoding/json
// writes for the same struct, so the format is what the struct tags document.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	recs := sessionRecords(t)
	odd := rec(t, ClientToServer, "<message><body>tab\there \"quoted\" back\\slash \u2028 é ☃ &lt;&amp;</body></message>")
	odd.Raw = append(odd.Raw, 0xff, 0x01) // invalid UTF-8 and a control character
	odd.SetRTT(1)
	note := &Record{Kind: KindNote}
	note.SetRTT(123456789012)
	recs = append(recs, odd, note)
	for _, redact := range []bool{false, true} {
		for _, r := range recs {
			if redact {
				raw, _ := RedactRecord(r)
				c := *r
				c.Raw = raw
				r = &c
			}
			jr := toJSON(r)
			want := referenceJSON(t, jr)
			if got := jr.appendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("appendJSON\n got %s\nwant %s", got, want)
			}
		}
	}
}

// referenceJSON is the line encoding/json writes for jr, its time formatted as the
// printer formats it (a record's time, jr.at, is not a field encoding/json sees).
func referenceJSON(t testing.TB, jr jsonRecord) []byte {
	t.Helper()
	if !jr.at.IsZero() {
		jr.Time = jr.at.UTC().Format(time.RFC3339Nano)
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&jr); err != nil {
		t.Fatal(err)
	}
	return want.Bytes()
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("plain")
	f.Add("\x00\x1f\"\\\u2028\u2029\xff<&>")
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
		if got := appendJSONString(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Fatalf("%q as bytes: got %s want %s", s, got, want)
		}
		if got := AppendJSONString(nil, s, false); !bytes.Equal(got, want) {
			t.Fatalf("%q without HTML escaping: got %s want %s", s, got, want)
		}
		// With HTML escaping, as json.Marshal writes it (the web view's summaries).
		html, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendJSONString(nil, s, true); !bytes.Equal(got, html) {
			t.Fatalf("%q with HTML escaping: got %s want %s", s, got, html)
		}
	})
}

// FuzzJSONTopAttrs: the printer's one-scan topAttrs finds what TopAttr finds for each of
// the four attributes it looks for, on any bytes.
func FuzzJSONTopAttrs(f *testing.F) {
	for _, s := range []string{
		"<message to='a@b' from=\"c@d/e\" type='chat' id='m&amp;1'><body/></message>",
		"<iq type='get' type='set' id='' to='x'/>",
		"<?xml version='1.0'?> <presence p:to='no' to='yes'/>",
		"<iq id='1' to='a' bad>",
		"< to='x'/>",
		"<iq",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var jr jsonRecord
		topAttrs(raw, &jr)
		for _, c := range []struct {
			name string
			got  jsonText
		}{{"type", jr.Type}, {"id", jr.ID}, {"from", jr.From}, {"to", jr.To}} {
			if want := TopAttr(raw, c.name); string(c.got) != want {
				t.Fatalf("topAttrs(%q): %s = %q, TopAttr says %q", raw, c.name, c.got, want)
			}
		}
	})
}

// TestJSONTopAttrsNoted: for records framed by a Reader the printer takes type, id, from
// and to from the offsets the Reader noted; they are what a scan of the bytes finds.
func TestJSONTopAttrsNoted(t *testing.T) {
	recs := sessionRecords(t)
	noted := 0
	for _, r := range recs {
		if r.Kind != KindStanza {
			continue
		}
		if _, _, known := r.TopAttrRaw(TopID); known {
			noted++
		}
		got := toJSON(r)
		var want jsonRecord
		topAttrs(r.Raw, &want)
		if string(got.Type) != string(want.Type) || string(got.ID) != string(want.ID) ||
			string(got.From) != string(want.From) || string(got.To) != string(want.To) {
			t.Errorf("%q: noted type/id/from/to %q %q %q %q, scanned %q %q %q %q", r.Raw,
				got.Type, got.ID, got.From, got.To, want.Type, want.ID, want.From, want.To)
		}
	}
	if noted == 0 {
		t.Fatal("no record had its top attributes noted: the test checks nothing")
	}
}

// BenchmarkJSONRecord is the JSON log's work for one record of live traffic: a chat
// message with its time, connection, direction and number. No Reader framed it, so the
// printer scans its start tag for type, id, from and to (BenchmarkJSONRecordFramed is the
// proxy's case).
func BenchmarkJSONRecord(b *testing.B) {
	r := rec(b, ClientToServer, "<message to='dana@localhost' type='chat' id='m1'><body>I wish to complain about this parrot.</body></message>")
	r.Conn, r.Time, r.Seq = &ConnInfo{ID: 3}, time.Date(2026, 11, 28, 13, 0, 0, 123456789, time.UTC), 42
	j := NewJSON(discardWriter{}, JSONOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if err := j.Write(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONRecordFramed is BenchmarkJSONRecord for the same message as the proxy's
// records of it are: framed by a Reader, which notes where type, id, from and to are, so
// the printer scans nothing.
func BenchmarkJSONRecordFramed(b *testing.B) {
	rd := NewReader(strings.NewReader(testHeader+"<message to='dana@localhost' type='chat' id='m1'><body>I wish to complain about this parrot.</body></message>"), Limits{})
	var r *Record
	for r == nil {
		ev, err := rd.Next()
		if err != nil {
			b.Fatal(err)
		}
		if ev.Kind == KindStanza {
			r = ev.Record()
		}
	}
	if _, _, known := r.TopAttrRaw(TopID); !known {
		b.Fatal("the Reader noted nothing: the benchmark measures the scan")
	}
	r.Dir, r.Conn, r.Time, r.Seq = ClientToServer, &ConnInfo{ID: 3}, time.Date(2026, 11, 28, 13, 0, 0, 123456789, time.UTC), 42
	j := NewJSON(discardWriter{}, JSONOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if err := j.Write(r); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzAppendTimeUTC holds the JSON log's time writer to what it replaces,
// time.AppendFormat with RFC 3339 and nanoseconds in UTC.
func FuzzAppendTimeUTC(f *testing.F) {
	f.Add(int64(1795870800), int64(123456789))
	f.Add(int64(1795870800), int64(0))
	f.Add(int64(1795870800), int64(100000000))
	f.Add(int64(-62135596800), int64(1))    // year 1
	f.Add(int64(253402300799), int64(999))  // 9999-12-31
	f.Add(int64(253402300800), int64(5000)) // year 10000: AppendFormat's
	f.Add(int64(-62135596801), int64(0))    // year 0
	f.Add(int64(-62167219200), int64(7))    // 0000-01-01: AppendFormat's
	f.Add(int64(-62162035201), int64(0))    // 0000-02-29T23:59:59: AppendFormat's
	f.Add(int64(-62162035200), int64(0))    // 0000-03-01: the first day written here
	f.Add(int64(-1), int64(999999999))      // before 1970
	f.Add(int64(951782400), int64(10))      // 2000-02-29
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		at := time.Unix(sec, nsec%1e9)
		want := at.UTC().AppendFormat(nil, time.RFC3339Nano)
		if got := appendTimeUTC(nil, at); string(got) != string(want) {
			t.Fatalf("appendTimeUTC(%v) = %s, want %s", at, got, want)
		}
		// A line's time, which keeps the last second it wrote: the same second again, a
		// later one (nsec from at, either side of the second), and back to the first.
		var jr jsonRecord
		for _, at := range []time.Time{at, at.Add(time.Duration(nsec % 1e9)), at.Add(time.Duration(nsec)), at} {
			jr.at = at
			want := at.UTC().AppendFormat(nil, time.RFC3339Nano)
			if got := jr.appendTime(nil); string(got) != string(want) {
				t.Fatalf("appendTime(%v) after %d = %s, want %s", at, jr.clock.sec, got, want)
			}
		}
	})
}

// FuzzJSONLine holds the whole line to encoding/json's for the same record (referenceJSON):
// every field present or left out, each string field one of a few fuzzed strings (invalid
// UTF-8, control bytes, U+2028, quotes, long xml), the time as the printer's or as read back.
func FuzzJSONLine(f *testing.F) {
	f.Add(int64(1795870800), int64(123456789), uint64(3), uint64(42), "c2s", "stanza",
		[]byte("<message to='dana@localhost' type='chat' id='m1'><body>I wish to complain about this parrot.</body></message>"),
		[]byte("dana@localhost"), uint64(0x5555555555555555), 0.0)
	f.Add(int64(0), int64(0), uint64(0), uint64(0), "\u2028\"\\\x00\x1f\xff\xc3", "é☃\u2029<&>",
		[]byte("tab\there \"quoted\" back\\slash \u2028 \xe2\x80 \x7f\x80"), []byte("\xed\xa0\x80"), ^uint64(0), 3.2)
	f.Add(int64(1795870800), int64(0), ^uint64(0), uint64(1), "", "x", []byte{}, []byte(nil), uint64(0xaaaaaaaaaaaaaaaa), 1e-7)
	f.Fuzz(func(t *testing.T, sec, nsec int64, conn, seq uint64, s1, s2 string, xml, attr []byte, pick uint64, rtt float64) {
		// pick chooses, two bits per field, what each gets: nothing, s1, s2 or attr.
		str := func() string {
			v := [...]string{"", s1, s2, string(attr)}[pick&3]
			pick = pick>>2 | pick<<62
			return v
		}
		text := func() jsonText {
			v := [...]jsonText{nil, jsonText(s1), xml, attr}[pick&3]
			pick = pick>>2 | pick<<62
			return v
		}
		jr := jsonRecord{Conn: conn, Seq: seq, Size: len(xml), Unmatched: pick&1 != 0}
		if sec != 0 {
			jr.at = time.Unix(sec, nsec%1e9)
		} else {
			jr.Time = str()
		}
		jr.Node, jr.Dir, jr.Kind, jr.Name, jr.NS = str(), str(), str(), str(), str()
		jr.Type, jr.ID, jr.From, jr.To, jr.XML = text(), text(), text(), text(), text()
		jr.Note, jr.Error, jr.Condition, jr.Original, jr.Verdict = str(), str(), str(), text(), str()
		if l := str(); l != "" || pick&1 != 0 {
			jr.Tags = []Tag{{Label: l, Color: str()}, {Label: s2}}
		}
		if r := str(); r != "" {
			jr.Rules = []string{r, s1}
		}
		if !math.IsNaN(rtt) && !math.IsInf(rtt, 0) {
			jr.RTTms = rtt // a duration's: never NaN or infinite
		}
		jr.Client, jr.Server, jr.Origin, jr.Transport = str(), str(), str(), str()
		if c := str(); c != "" {
			jr.Violations = []Violation{{Condition: Cond(c), Text: s1, Section: str(), Offset: int64(seq), Line: int(conn), Col: len(s2)}}
		}
		if pick&2 != 0 {
			jr.Milestone = &Milestone{Kind: MilestoneKind(str()), Leg: str(), Direct: pick&4 != 0}
		}
		want := referenceJSON(t, jr)
		if got := jr.appendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("appendJSON\n got %s\nwant %s", got, want)
		}
	})
}

// FuzzAppendUint holds the line's number writer to strconv's.
func FuzzAppendUint(f *testing.F) {
	for _, v := range []uint64{0, 9, 10, 99, 100, 999, 1000, 9999, 10000, 1<<64 - 1} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v uint64) {
		if got, want := appendUint([]byte("x"), v), strconv.AppendUint([]byte("x"), v, 10); string(got) != string(want) {
			t.Fatalf("appendUint(%d) = %s, want %s", v, got, want)
		}
	})
}

// TestJSONPrinterReuse: the printer fills one line in place for every record and keeps the
// last second's time; each line it writes is the line of that record alone, whatever came
// before (the session's records, then again in reverse, then with times a second apart).
func TestJSONPrinterReuse(t *testing.T) {
	recs := sessionRecords(t)
	for i := len(recs) - 1; i >= 0; i-- {
		recs = append(recs, recs[i])
	}
	for i, r := range recs[:10] {
		c := *r
		c.Time = r.Time.Add(time.Duration(i) * 999 * time.Millisecond)
		recs = append(recs, &c)
	}
	var buf bytes.Buffer
	j := NewJSON(&buf, JSONOptions{})
	for _, r := range recs {
		buf.Reset()
		if err := j.Write(r); err != nil {
			t.Fatal(err)
		}
		jr := toJSON(r)
		if want := referenceJSON(t, jr); !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("line after others\n got %s\nwant %s", buf.Bytes(), want)
		}
	}
}

// TestJSONNamedFields: a line's direction, kind and producer, copied from namedFields, are
// what encoding/json writes for their names, for every value (names or none, in the
// table or past it) and with or without a time before them.
func TestJSONNamedFields(t *testing.T) {
	at := time.Date(2026, 11, 28, 13, 0, 0, 5, time.UTC)
	for i := range 256 {
		for _, r := range []*Record{
			{Kind: Kind(i), Dir: Direction(i), Origin: Origin(i)},
			{Kind: Kind(i), Dir: Direction(i % 4), Origin: Origin(i % 5), Time: at},
			{Kind: Kind(i % 12), Dir: Direction(i % 3), Raw: []byte("<presence/>")},
		} {
			jr := toJSON(r)
			if got, want := jr.appendJSON(nil), referenceJSON(t, jr); !bytes.Equal(got, want) {
				t.Fatalf("kind %d, dir %d, origin %d\n got %s\nwant %s", r.Kind, r.Dir, r.Origin, got, want)
			}
		}
	}
}
