package main

import (
	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/rules"
)

// webFilter compiles the expressions of the web view's filter box with rules.ParseFilter,
// the one filter language of --filter: a page and a terminal given the same expression
// show the same records. Each call is a fresh filter, fed one history in order.
func webFilter(expr string) (func(*inspect.Record) bool, []string, error) {
	f, err := rules.ParseFilter(expr)
	if err != nil {
		return nil, nil, err
	}
	return f.Match, f.Warnings(), nil
}
