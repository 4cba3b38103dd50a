package capture

import (
	"strings"
	"testing"
)

func TestBoundary(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want boundaryKind
	}{
		{"<", bNeedMore},
		{"<?xm", bNeedMore},
		{"<?xml version='1.0'?>", bHeader},
		{"<?php", bNone},
		{"<stream:stream ", bHeader},
		{"<message to='a'>", bStanza},
		{"<message/>", bStanza},
		{"<messages>", bNone},
		{"<body>", bNone},
		{"<stream:features>", bStanza},
		{"<db:result ", bStanza},
		{"</stream:stream>", bClose},
		{"</stream:stream  >", bClose},
		{"</stream:stream" + strings.Repeat(" ", 100), bNone},
		{"</message>", bNone},
		{"<" + strings.Repeat("a", 100), bNone},
		{"<iq", bNeedMore},
	} {
		if got, _ := boundary([]byte(tc.in)); got != tc.want {
			t.Errorf("boundary(%.30q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
