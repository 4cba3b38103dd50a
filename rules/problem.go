package rules

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong in a rule file, with the place it was found.
type Problem struct {
	File      string
	Line, Col int // 1-based; 0 when the position is unknown (an unreadable file)
	Msg       string
}

// String returns the problem as FILE:LINE:COL: message, the form editors jump to.
func (p Problem) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg)
}

// FileErrors is the error returned when rule files have problems: every problem found,
// not just the first, so one run of `rules check` shows them all.
type FileErrors struct {
	Problems []Problem
}

// Error returns one problem per line.
func (e *FileErrors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// maxProblems bounds the list so a garbage file cannot produce an unbounded report.
const maxProblems = 100

// problems collects Problems for one file.
type problems struct {
	file string
	list []Problem
}

func (ps *problems) add(line, col int, format string, args ...any) {
	if len(ps.list) >= maxProblems {
		return
	}
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
	if len(ps.list) == maxProblems {
		ps.list = append(ps.list, Problem{File: ps.file, Line: line, Col: col, Msg: "too many problems, stopping"})
	}
}

// err returns the problems as a *FileErrors sorted by position, or nil when there are none.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	sort.SliceStable(ps.list, func(i, j int) bool {
		a, b := ps.list[i], ps.list[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return &FileErrors{Problems: ps.list}
}
