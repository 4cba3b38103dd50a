package server

import (
	"fmt"
	"regexp"
)

func regexpQuote(s string) string       { return regexp.QuoteMeta(s) }
func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }
func matchRe(re, s string) bool         { return regexp.MustCompile("^" + re + "$").MatchString(s) }
