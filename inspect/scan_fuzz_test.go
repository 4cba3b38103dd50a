package inspect

import (
	"bytes"
	"testing"
)

// The scanner's runs (skipText, skipValue, skipName, nameRun) are written for speed: four
// bytes per branch, tables of 0 and 1, the colon of a name noted on the way. FuzzScanRuns
// holds each to a plain reference written from the rules themselves, byte by byte.

func refTextStop(c byte) bool {
	return c == '<' || c == '&' || c == ']' || c >= 0x80 || c < 0x20 && c != '\t' && c != '\n' && c != '\r'
}

func refValueStop(c byte) bool {
	return c == '<' || c == '&' || c == '\'' || c == '"' || c >= 0x80 || c < 0x20 && c != '\t' && c != '\n' && c != '\r'
}

func refNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == ':' || c == '-' || c == '.' || c >= 0x80
}

func refRun(b []byte, i int, stop func(byte) bool) int {
	for i < len(b) && !stop(b[i]) {
		i++
	}
	return i
}

func FuzzScanRuns(f *testing.F) {
	for _, s := range []string{
		"I wish to complain about this parrot]]> &amp; <x/>",
		"dana@localhost' type='chat'",
		"http://jabber.org/protocol/chatstates\"/>",
		"tab\there\nnewline\r\x01ctl\x7f\xc3\xa9",
		"stream:stream xmlns:a:b='x'",
		":lead trail: a:b:c \xe2\x82\xacname",
		"",
	} {
		for _, i := range []uint8{0, 1, 3, 5} {
			f.Add([]byte(s), i)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, at uint8) {
		i := int(at)
		if i > len(b) {
			i = len(b)
		}
		if got, want := skipText(b, i), refRun(b, i, refTextStop); got != want {
			t.Fatalf("skipText(%q, %d) = %d, want %d", b, i, got, want)
		}
		if got, want := skipValue(b, i), refRun(b, i, refValueStop); got != want {
			t.Fatalf("skipValue(%q, %d) = %d, want %d", b, i, got, want)
		}
		plain := func(c byte) bool { return !refNameByte(c) || c == ':' || c >= 0x80 }
		if got, want := skipName(b, i), refRun(b, i, plain); got != want {
			t.Fatalf("skipName(%q, %d) = %d, want %d", b, i, got, want)
		}
		// nameRun over a name that starts at i, given in two pieces as a stream may
		// deliver it: the end, the first colon and what it notes must not depend on the cut.
		end := refRun(b, i, func(c byte) bool { return !refNameByte(c) })
		name := b[i:end]
		wantColon := int32(bytes.IndexByte(name, ':'))
		wantMany := bytes.Count(name, []byte(":")) > 1
		wantHigh := bytes.ContainsFunc(name, func(r rune) bool { return r >= 0x80 })
		for cut := i; cut <= len(b); cut += max(1, (len(b)-i)/3) {
			var r Reader
			colon := int32(-1)
			j := r.nameRun(b[:cut], i, int32(i), &colon)
			if j < cut {
				if j != end {
					t.Fatalf("nameRun(%q) stopped at %d before the cut %d, want %d", b[:cut], j, cut, end)
				}
			} else {
				j = r.nameRun(b, j, int32(i), &colon)
			}
			if j != end || colon != wantColon || r.manyColons != wantMany || r.highName != wantHigh {
				t.Fatalf("nameRun(%q from %d, cut at %d) = %d, colon %d, many %v, high %v; want %d, %d, %v, %v",
					b, i, cut, j, colon, r.manyColons, r.highName, end, wantColon, wantMany, wantHigh)
			}
		}
	})
}
