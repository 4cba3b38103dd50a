package inspect

import (
	"bytes"
)

// The body of a record is printed from its bytes, not from a tree: what the pretty printer
// shows is what travelled, indented. It adds line breaks and indentation between tags and
// after the line breaks the bytes hold, and never changes a byte: quoting, escaping,
// attribute order, the whitespace inside tags and the namespace declarations stay as they
// were, so "what exactly did my client send" and the textbook's escaping lesson (&apos;)
// can be read off the screen. Removing what the printer added gives back the bytes
// (TestPrettyBodyIsTheBytes, FuzzPrettyBody). The characters that could drive a terminal
// are escaped (appendSafe), colour or not.
//
// Rules, in order of the bytes:
//   - the record starts on a new line, indented for its level;
//   - a tag that follows another tag (no text between) starts a new line, indented by
//     its depth; an element whose only content is a short single-line text stays on one
//     line with it;
//   - text is printed as it is; after each of its line breaks the line is indented to the
//     current depth (counting the spaces the text itself has there);
//   - long base64 text is folded at the width, each piece on a line of its own;
//   - other long text goes on a line of its own, between its element's tags.

// bodyTok is one token of a stanza's bytes: a tag (start, empty, end, other) or text.
type bodyTok struct {
	t    tag // for tags
	text bool
	from int
	to   int
}

// body appends raw (a stanza, a stream header or a closing tag) at the given level.
func (p *Pretty) body(b, raw []byte, level int) []byte {
	if len(raw) == 0 {
		return b
	}
	toks := p.tokens(raw)
	depth := 0
	prevTag := false // the last token printed was a tag: the next tag starts a line
	b = p.added(b, "", level)
	for k := 0; k < len(toks); k++ {
		tk := toks[k]
		if tk.text {
			lv := level + depth
			if k+1 < len(toks) && !toks[k+1].text && toks[k+1].t.kind == tagEnd && isSpaceOnly(raw[tk.from:tk.to]) {
				lv-- // formatting before a closing tag: indent it as the tag
			}
			b = p.bodyText(b, raw[tk.from:tk.to], max(lv, 0))
			prevTag = false
			continue
		}
		t := tk.t
		if t.kind == tagEnd {
			depth--
		}
		if prevTag {
			b = p.added(b, "\n", level+max(depth, 0))
		}
		switch t.kind {
		case tagStart:
			b = p.startTag(b, raw[t.start:t.end], level+depth)
			// <body>short text</body> on one line.
			if k+2 < len(toks) && toks[k+1].text && !toks[k+2].text && toks[k+2].t.kind == tagEnd {
				text, end := raw[toks[k+1].from:toks[k+1].to], toks[k+2].t
				if bytes.IndexByte(text, '\n') < 0 && p.fits(level+depth, (t.end-t.start)+len(text)+(end.end-end.start)) && !p.foldable(text, level+depth+1) {
					b = p.pal.text.paintBytes(b, text)
					b = p.endTagRaw(b, raw[end.start:end.end])
					k += 2
					prevTag = true
					continue
				}
			}
			depth++
			if k+1 < len(toks) && toks[k+1].text && !isSpaceOnly(raw[toks[k+1].from:toks[k+1].to]) {
				// Text that does not fit on the tag's line goes on a line of its own.
				b = p.added(b, "\n", level+depth)
			}
		case tagEmpty:
			b = p.startTag(b, raw[t.start:t.end], level+depth)
		case tagEnd:
			if k > 0 && toks[k-1].text && !isSpaceOnly(raw[toks[k-1].from:toks[k-1].to]) && k >= 2 && !toks[k-2].text && toks[k-2].t.kind == tagStart {
				// The closing tag of an element whose text went on a line of its own.
				b = p.added(b, "\n", level+max(depth, 0))
			}
			b = p.endTagRaw(b, raw[t.start:t.end])
		default:
			b = p.pal.punct.paintBytes(b, raw[t.start:t.end])
		}
		prevTag = true
	}
	return p.added(b, "\n", -1)
}

// tokens splits raw into tags and the text between them; bytes that are no tag (a
// truncated one) are text.
func (p *Pretty) tokens(raw []byte) []bodyTok {
	toks := p.toks[:0]
	i := 0
	for i < len(raw) {
		t, ok := nextTag(raw, i)
		if !ok {
			break
		}
		if t.start > i {
			toks = append(toks, bodyTok{text: true, from: i, to: t.start})
		}
		toks = append(toks, bodyTok{t: t, from: t.start, to: t.end})
		i = t.end
	}
	if i < len(raw) {
		toks = append(toks, bodyTok{text: true, from: i, to: len(raw)})
	}
	p.toks = toks
	return toks
}

func isSpaceOnly(b []byte) bool {
	for _, c := range b {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

// added appends what the printer adds, never a byte of the record: s (a line break or
// nothing), then, when level >= 0, the indentation of level. Tests mark it (addMark) to
// take it out again.
func (p *Pretty) added(b []byte, s string, level int) []byte {
	if p.addMark {
		b = append(b, 0)
	}
	b = append(b, s...)
	if level >= 0 {
		b = p.indent(b, level)
	}
	if p.addMark {
		b = append(b, 1)
	}
	return b
}

// bodyText appends text as it is. After each line break in it, the line is indented to
// level, counting the spaces the text has there; long base64 is folded at the width.
func (p *Pretty) bodyText(b, text []byte, level int) []byte {
	if p.foldable(text, level) {
		avail := max(p.opt.Width-level*2, 16)
		for len(text) > 0 {
			n := min(avail, len(text))
			b = p.pal.text.paintBytes(b, text[:n])
			text = text[n:]
			if len(text) > 0 {
				b = p.added(b, "\n", level)
			}
		}
		return b
	}
	for {
		nl := bytes.IndexByte(text, '\n')
		if nl < 0 {
			return p.pal.text.paintBytes(b, text)
		}
		b = p.pal.text.paintBytes(b, text[:nl+1])
		text = text[nl+1:]
		// Indent the next line, less the spaces it has of its own.
		have := 0
		for have < len(text) && text[have] == ' ' {
			have++
		}
		if want := level * 2; have < want {
			if p.addMark {
				b = append(b, 0)
			}
			for range want - have {
				b = append(b, ' ')
			}
			if p.addMark {
				b = append(b, 1)
			}
		}
	}
}

// foldable reports whether text is base64 too long for one line at level.
func (p *Pretty) foldable(text []byte, level int) bool {
	return len(text) > max(p.opt.Width-level*2, 16) && isBase64Bytes(text)
}

func isBase64Bytes(s []byte) bool {
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// startTag appends a start or empty tag from its bytes: the name, each attribute's name
// and value (with its quotes) in their colours, and everything between them as written.
func (p *Pretty) startTag(b, st []byte, level int) []byte {
	pal := p.pal
	tag, err := scanStartTag(st, p.attrs[:0], true)
	if err != nil || tag.NameEnd > len(st) {
		return pal.elem.paintBytes(b, st)
	}
	p.attrs = tag.Attrs
	b = pal.punct.paintBytes(b, st[:1])
	b = pal.elem.paintBytes(b, st[1:tag.NameEnd])
	i := tag.NameEnd
	for _, a := range tag.Attrs {
		b = p.tagGap(b, st[i:a.NameStart], level)
		b = pal.attr.paintBytes(b, st[a.NameStart:a.NameEnd])
		b = p.tagGap(b, st[a.NameEnd:a.ValueStart], level) // =' or = "
		b = pal.value.paintBytes(b, st[a.ValueStart:a.ValueEnd])
		b = pal.value.paintBytes(b, st[a.ValueEnd:a.ValueEnd+1]) // the closing quote
		i = a.ValueEnd + 1
	}
	return p.tagGap(b, st[i:], level)
}

// tagGap appends what lies between the parts of a tag (spaces, '=', the opening quote,
// the closing '>' or '/>'), indenting after a line break it holds.
func (p *Pretty) tagGap(b, gap []byte, level int) []byte {
	if bytes.IndexByte(gap, '\n') >= 0 {
		return p.bodyTextStyled(b, gap, level+1, p.pal.punct)
	}
	return p.pal.punct.paintBytes(b, gap)
}

// bodyTextStyled is bodyText (without folding) in another style.
func (p *Pretty) bodyTextStyled(b, text []byte, level int, st style) []byte {
	saved := p.pal.text
	p.pal.text = st
	b = p.bodyText(b, text, level)
	p.pal.text = saved
	return b
}

// endTagRaw appends a closing tag from its bytes.
func (p *Pretty) endTagRaw(b, et []byte) []byte {
	pal := p.pal
	if len(et) < 3 {
		return pal.punct.paintBytes(b, et)
	}
	name := et[2 : len(et)-1]
	trail := len(name)
	for trail > 0 && isSpace(name[trail-1]) {
		trail--
	}
	b = pal.punct.paintBytes(b, et[:2])
	b = pal.elem.paintBytes(b, name[:trail])
	return pal.punct.paintBytes(b, et[2+trail:])
}
