package inspect

import (
	"errors"
	"testing"
)

func TestTee(t *testing.T) {
	a, b := &collect{}, &collect{}
	boom := errors.New("boom")
	failing := SinkFunc(func(*Record) error { return boom })
	s := Tee(a, nil, failing, b)
	r := &Record{Kind: KindNote}
	if err := s.Write(r); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if len(a.recs) != 1 || len(b.recs) != 1 {
		t.Fatalf("a %d b %d: every sink gets the record", len(a.recs), len(b.recs))
	}
	if Tee(a) != Sink(a) {
		t.Error("Tee of one sink should be that sink")
	}
}
