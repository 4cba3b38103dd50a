package web_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/web"
)

// connMatcher understands "conn N" only: the wiring of /filter, without rules (which
// cmd/stanzascope passes, and TestWebFilterExpression drives through a browser).
func connMatcher(expr string) (func(*inspect.Record) bool, []string, error) {
	n, ok := strings.CutPrefix(expr, "conn ")
	id, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil {
		return nil, nil, errors.New("col 1: expected conn N")
	}
	var warnings []string
	if id > 2 {
		warnings = append(warnings, "no such connection yet")
	}
	var last uint64 // the match function has state and is fed the history in order
	return func(r *inspect.Record) bool {
		if r.Seq <= last {
			panic("records out of order")
		}
		last = r.Seq
		return r.Conn != nil && r.Conn.ID == id
	}, warnings, nil
}

type filterAnswer struct {
	Match    []uint64 `json:"match"`
	Next     uint64   `json:"next"`
	Warnings []string `json:"warnings"`
	Error    string   `json:"error"`
}

func askFilter(t *testing.T, base, expr string) (int, filterAnswer) {
	t.Helper()
	resp, err := http.Get(base + "filter?expr=" + url.QueryEscape(expr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a filterAnswer
	if resp.StatusCode != http.StatusNotFound {
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
	}
	return resp.StatusCode, a
}

func TestFilterEndpoint(t *testing.T) {
	h := web.NewHub(web.Options{History: 6})
	for _, r := range chat(10) { // indices 1-10; the history keeps 5-10
		if err := h.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(web.NewHandler(h, web.HandlerOptions{Filter: connMatcher}))
	defer srv.Close()
	base := srv.URL + "/"

	// chat: records 1-2 and the odd-numbered messages from 5 on are connection 1's.
	code, a := askFilter(t, base, "conn 1")
	if code != 200 || a.Error != "" || a.Next != 11 || len(a.Warnings) != 0 {
		t.Fatalf("conn 1: %d %+v", code, a)
	}
	if got := jsonOf(a.Match); got != "[5,7,9]" {
		t.Errorf("conn 1 matches %v, want 5,7,9 (the history holds 5-10)", a.Match)
	}
	if code, a = askFilter(t, base, "conn 7"); code != 200 || len(a.Match) != 0 || len(a.Warnings) != 1 {
		t.Errorf("conn 7: %d %+v, want no match and the warning", code, a)
	}
	if code, a = askFilter(t, base, "cnon 1"); code != 400 || a.Error != "col 1: expected conn N" {
		t.Errorf("a typo: %d %+v, want 400 with the matcher's error", code, a)
	}
	if code, a = askFilter(t, base, "conn "+strings.Repeat("1", 20000)); code != 400 || a.Error == "" {
		t.Errorf("a long expression: %d %+v, want 400", code, a)
	}

	// Without a matcher the page has no expressions: 404.
	plain := httptest.NewServer(web.NewHandler(h, web.HandlerOptions{}))
	defer plain.Close()
	if code, _ := askFilter(t, plain.URL+"/", "conn 1"); code != http.StatusNotFound {
		t.Errorf("without a matcher: %d, want 404", code)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
