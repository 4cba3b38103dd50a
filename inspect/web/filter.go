package web

import (
	"encoding/json"
	"net/http"

	"github.com/stanzascope/stanzascope/inspect"
)

// Matcher compiles a filter expression into a function that says which records it shows,
// and the expression's warnings (a name no specification uses, say). The function has
// state (the connections' bound JIDs): it is fed the records of one history in order,
// from one goroutine. cmd/stanzascope passes one built on rules.ParseFilter, so that the
// page's expression box speaks the one filter language of --filter (docs/INSPECT.md);
// inspect/web cannot import rules, which imports inspect.
type Matcher func(expr string) (match func(*inspect.Record) bool, warnings []string, err error)

// maxFilterExpr bounds the expression a browser may send; the language's own bound
// (rules) is lower.
const maxFilterExpr = 16 << 10

// filterResult is the answer of /filter.
type filterResult struct {
	Match    []uint64 `json:"match"`              // indices of the records shown, ascending
	Next     uint64   `json:"next"`               // records from this index on were not seen yet
	Warnings []string `json:"warnings,omitempty"` // what may be a mistake in the expression
	Error    string   `json:"error,omitempty"`    // why the expression does not compile
}

// serveFilter answers GET /filter?expr=E with the indices of the records of the history
// that E shows, fed in order to one fresh match function (400 with the error when E does
// not compile). The page asks again as records arrive: the history is bounded, and the
// answer is always about all of it, so a connection's binding seen early still counts.
// The records are the hub's copies, redacted like every output: an expression cannot
// find a secret.
func (h *Hub) serveFilter(w http.ResponseWriter, r *http.Request, m Matcher) {
	w.Header().Set("Content-Type", "application/json")
	expr := r.URL.Query().Get("expr")
	if len(expr) > maxFilterExpr {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(filterResult{Error: "the expression is too long"})
		return
	}
	match, warnings, err := m(expr)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(filterResult{Error: err.Error()})
		return
	}
	res := filterResult{Match: []uint64{}, Warnings: warnings}
	h.mu.Lock()
	first, next := h.first, h.next
	recs := make([]*inspect.Record, 0, next-first)
	for i := first; i < next; i++ {
		recs = append(recs, h.ring[i%uint64(len(h.ring))].rec)
	}
	h.mu.Unlock()
	// Matching may parse a record, as rendering a detail does (inspect.Record.Element is
	// safe for concurrent use).
	for k, rec := range recs {
		if match(rec) {
			res.Match = append(res.Match, first+uint64(k))
		}
	}
	res.Next = next
	json.NewEncoder(w).Encode(res)
}
