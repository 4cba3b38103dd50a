package inspect

import "strings"

// maxDiffLines bounds the quadratic line diff; bigger stanzas are shown as all removed and
// all added.
const maxDiffLines = 400

// diff appends the lines a rule changed: the original as received against what was sent,
// both printed from their bytes without colour and compared line by line.
func (p *Pretty) diff(b []byte, r *Record) []byte {
	plain := &Pretty{opt: p.opt, pal: newPalette(false, ThemeDark)}
	newLines := splitLines(plain.body(nil, r.Raw, 1))
	oldLines := splitLines(plain.body(nil, r.Original(), 1))
	b = append(b, "  "...)
	b = p.pal.rules.paint(b, "changed by rule (- received, + sent):")
	b = append(b, '\n')
	for _, d := range lineDiff(oldLines, newLines) {
		if d.op == ' ' {
			continue
		}
		st := p.pal.plus
		if d.op == '-' {
			st = p.pal.minus
		}
		b = st.paint(b, string(d.op)+d.line)
		b = append(b, '\n')
	}
	return b
}

func splitLines(b []byte) []string {
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

type diffLine struct {
	op   byte // ' ', '-' or '+'
	line string
}

// lineDiff is a longest-common-subsequence diff of two short line lists.
func lineDiff(a, b []string) []diffLine {
	if len(a) > maxDiffLines || len(b) > maxDiffLines {
		out := make([]diffLine, 0, len(a)+len(b))
		for _, l := range a {
			out = append(out, diffLine{'-', l})
		}
		for _, l := range b {
			out = append(out, diffLine{'+', l})
		}
		return out
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, diffLine{' ', a[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{'-', a[i]})
			i++
		default:
			out = append(out, diffLine{'+', b[j]})
			j++
		}
	}
	for ; i < len(a); i++ {
		out = append(out, diffLine{'-', a[i]})
	}
	for ; j < len(b); j++ {
		out = append(out, diffLine{'+', b[j]})
	}
	return out
}
