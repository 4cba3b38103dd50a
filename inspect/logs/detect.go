package logs

import (
	"bytes"
)

// DetectSize is how many bytes of the input Detect should be given, at most: the debug
// logs of servers start with many lines of their own before the first stanza.
const DetectSize = 1 << 20

// Detect says which format an input is from its first bytes (up to DetectSize; fewer when
// the input is shorter): capture magic numbers, a JSON object (stanzascope's log), XML, or
// the first line that one of the debug log formats would read. It returns Unknown when
// nothing fits.
func Detect(head []byte) Format {
	f, _ := DetectPrefix(head, true)
	return f
}

// DetectPrefix is Detect for an input of which only head has arrived yet. sure is false
// when more bytes could change the answer: a log line that holds no stanza yet leaves it
// open, and so does a last line without its end unless complete says the input ends
// there.
func DetectPrefix(head []byte, complete bool) (f Format, sure bool) {
	if len(head) < 4 && !complete {
		return Unknown, false
	}
	if len(head) >= 4 {
		switch string(head[:4]) {
		case "\xd4\xc3\xb2\xa1", "\xa1\xb2\xc3\xd4", "\x4d\x3c\xb2\xa1", "\xa1\xb2\x3c\x4d", "\x0a\x0d\x0d\x0a":
			return Pcap, true
		}
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case len(t) == 0:
		return Unknown, complete
	case t[0] == '{':
		return JSON, true
	case t[0] == '<':
		return XML, true
	}
	if !complete {
		// Only whole lines: the last one may still grow.
		i := bytes.LastIndexByte(head, '\n')
		head = head[:i+1]
	}
	var prosody prosodyParser
	fallback := Unknown
	for len(head) > 0 {
		line, rest, _ := bytes.Cut(head, []byte("\n"))
		head = rest
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case bytes.Contains(line, ejRecv) || bytes.Contains(line, ejSend):
			return Ejabberd, true
		}
		if i, _, _, _ := smackMarker(line); i >= 0 {
			return Smack, true
		}
		if _, source, msg, ok := prosody.fields(line); ok {
			if (bytes.HasPrefix(msg, prosodySend) || bytes.HasPrefix(msg, prosodyRecv)) && len(source) > 0 {
				return Prosody, true
			}
			if fallback == Unknown {
				fallback = Prosody
			}
			continue
		}
		if i, _ := markerAt(line); i >= 0 {
			if rest := line[i+len(slixSend):]; len(rest) > 0 && rest[0] == '<' {
				return Slixmpp, true
			}
		}
		if fallback == Unknown && ejabberdRecordStart(line) && bytes.Contains(line, []byte("] <0.")) {
			fallback = Ejabberd
		}
	}
	return fallback, complete
}
