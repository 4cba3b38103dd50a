package inspect

import "hash/maphash"

// Limits bound what a peer can make the reader hold, and how much work one start tag can
// cost. Zero fields take the value of DefaultLimits. A stanza or header beyond a limit is a
// policy-violation stream error.
type Limits struct {
	MaxStanza int // largest stanza (and stream header) in bytes; default 256 KiB
	MaxDepth  int // deepest element nesting inside a stanza; default 64

	// MaxAttrs bounds the attributes of one start tag, namespace declarations included;
	// default 64. The busiest tags of real traffic (stream headers, Jingle candidates,
	// entity capabilities) carry 5 to 13, so 64 leaves room for extensions while keeping
	// a header of 40,000 attributes from costing anything but its first 65.
	MaxAttrs int
	// MaxNamespaces bounds the prefixes declared (xmlns:p='...') in scope at once: on a
	// stream header, or within a stanza by an element and its open ancestors; default 32.
	// Stream headers declare one to three prefixes (stream, db), stanzas nearly always
	// use default namespaces (xmlns='...'), so 32 is ten times what traffic needs and
	// bounds the scope a prefix is looked up in.
	MaxNamespaces int

	// Annotate makes the reader transparent: a violation it can frame past is recorded on
	// the event it occurs in (Event.Violations) and reading goes on, so a proxy can forward
	// what the server behind it would judge. Such violations are restricted XML inside a
	// stanza (comments, processing instructions, entity references other than the five),
	// an XML declaration after whitespace, namespace well-formedness, characters XML does
	// not allow (control characters, U+FFFE, a bad character reference, "]]>" in text), a
	// duplicate attribute, a malformed XML declaration, a stream element in another
	// namespace, and a new stream header where no restart was due. The limits above, and
	// what the reader cannot frame (malformed markup, text, comments or processing
	// instructions between stanzas, DTDs, other encodings, invalid UTF-8), end the stream
	// in both modes. The zero value enforces: every violation is a *StreamError.
	Annotate bool
}

// DefaultLimits are used for zero fields of Limits.
var DefaultLimits = Limits{MaxStanza: 256 << 10, MaxDepth: 64, MaxAttrs: 64, MaxNamespaces: 32}

func (l Limits) withDefaults() Limits {
	if l.MaxStanza <= 0 {
		l.MaxStanza = DefaultLimits.MaxStanza
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = DefaultLimits.MaxAttrs
	}
	if l.MaxNamespaces <= 0 {
		l.MaxNamespaces = DefaultLimits.MaxNamespaces
	}
	return l
}

// pairwiseMax is how many keys dupFinder compares pair by pair: a start tag rarely has
// more, and for so few a table costs more than the comparisons.
const pairwiseMax = 8

// dupSeed seeds the hashes of dupFinder and of the prefix index. It is random per
// process, so a peer cannot choose names that collide.
var dupSeed = maphash.MakeSeed()

// dupFinder finds a repeated key among the n keys of one start tag (attribute names,
// expanded names) in time linear in n: pair by pair for a few keys, so that the usual tag
// allocates nothing, and with an open-addressing table beyond. The table is kept for the
// next tag.
type dupFinder struct{ slots []int32 }

// first returns the indexes of the first key equal to an earlier one, and of that earlier
// one; (-1, -1) when all keys differ. Keys with equal eq must have equal hash.
func (d *dupFinder) first(n int, hash func(i int) uint64, eq func(i, j int) bool) (dup, orig int) {
	if n <= pairwiseMax {
		for i := 1; i < n; i++ {
			for j := 0; j < i; j++ {
				if eq(i, j) {
					return i, j
				}
			}
		}
		return -1, -1
	}
	size := 32
	for size < 2*n {
		size <<= 1
	}
	if cap(d.slots) < size {
		d.slots = make([]int32, size)
	}
	s := d.slots[:size]
	clear(s)
	mask := uint64(size - 1)
	for i := range n {
		h := hash(i) & mask
		for {
			k := s[h]
			if k == 0 {
				s[h] = int32(i + 1)
				break
			}
			if eq(i, int(k-1)) {
				return i, int(k - 1)
			}
			h = (h + 1) & mask
		}
	}
	return -1, -1
}
