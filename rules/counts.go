package rules

import (
	"fmt"
	"io"
)

// WriteCounts writes one line per rule, "COUNT  NAME  (FILE:LINE)", for the log at exit
// and on SIGUSR1, followed by ", N over the XPath budget" when the budget cut the rule
// short. It returns the first write error.
func WriteCounts(w io.Writer, counts []RuleCount) error {
	width := 1
	for _, c := range counts {
		if n := len(fmt.Sprint(c.Count)); n > width {
			width = n
		}
	}
	for _, c := range counts {
		over := ""
		if c.OverBudget > 0 {
			over = fmt.Sprintf(", %d over the XPath budget", c.OverBudget)
		}
		if _, err := fmt.Fprintf(w, "%*d  %s  (%s:%d)%s\n", width, c.Count, c.Name, c.File, c.Line, over); err != nil {
			return err
		}
	}
	return nil
}
