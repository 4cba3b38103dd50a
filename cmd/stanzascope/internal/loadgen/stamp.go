package loadgen

import (
	"bytes"
	"math"
	"strconv"

	"github.com/stanzascope/stanzascope/inspect"
)

// NSBench is the namespace of the stamp each bench message carries.
const NSBench = "urn:stanzascope:bench"

var nsBenchBytes = []byte(NSBench)

// Stamp is what a bench message carries besides its body: when it was sent (Unix ns),
// its sequence number in the sender's flow and the sender's client index.
type Stamp struct {
	Sent int64
	Seq  int64
	From int64
}

// appendMessage appends a bench chat message to dst. to must already be escaped for an
// attribute value.
func appendMessage(dst []byte, to string, st Stamp) []byte {
	dst = append(dst, "<message type='chat' to='"...)
	dst = append(dst, to...)
	dst = append(dst, "' id='"...)
	dst = strconv.AppendInt(dst, st.Seq, 10)
	dst = append(dst, "'><body>stanzascope bench message "...)
	dst = strconv.AppendInt(dst, st.Seq, 10)
	dst = append(dst, "</body><x xmlns='"+NSBench+"' sent='"...)
	dst = strconv.AppendInt(dst, st.Sent, 10)
	dst = append(dst, "' seq='"...)
	dst = strconv.AppendInt(dst, st.Seq, 10)
	dst = append(dst, "' from='"...)
	dst = strconv.AppendInt(dst, st.From, 10)
	dst = append(dst, "'/></message>"...)
	return dst
}

// ParseStamp finds the bench stamp in a message's raw bytes. Servers re-serialise
// stanzas (other quotes, other attribute order, a prefix), so it looks for the namespace
// and reads the attributes of the element that declares it. It does not allocate.
func ParseStamp(raw []byte) (Stamp, bool) {
	i := bytes.Index(raw, nsBenchBytes)
	if i < 0 {
		return Stamp{}, false
	}
	lt := bytes.LastIndexByte(raw[:i], '<')
	if lt < 0 {
		return Stamp{}, false
	}
	tag := raw[lt:]
	var st Stamp
	var ok1, ok2, ok3 bool
	st.Sent, ok1 = parseDecimal(tagAttr(tag, "sent"))
	st.Seq, ok2 = parseDecimal(tagAttr(tag, "seq"))
	st.From, ok3 = parseDecimal(tagAttr(tag, "from"))
	return st, ok1 && ok2 && ok3
}

// isErrorMessage reports whether the top element of raw has type='error'.
func isErrorMessage(raw []byte) bool {
	return string(tagAttr(raw, "type")) == "error"
}

// parseDecimal parses a non-negative decimal that fits an int64 (Unix nanoseconds have
// 19 digits).
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// tagAttr returns the value as written (entities not expanded) of the attribute name of
// the first start tag in b (which starts at or before its '<'), or nil: the attributes
// read here hold digits or plain words. The scan is inspect's one start-tag scanner.
func tagAttr(b []byte, name string) []byte {
	i := bytes.IndexByte(b, '<')
	if i < 0 {
		return nil
	}
	v, _ := inspect.RawAttr(b[i:], name)
	return v
}
