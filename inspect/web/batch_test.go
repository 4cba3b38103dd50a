package web

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// batchRecords interleaves two textbook sessions with whitespace and a bound JID.
func batchRecords(t *testing.T) []*inspect.Record {
	a, b := newSession(t, 1), newSession(t, 2)
	ra, rb := a.textbook(), b.textbook()
	var recs []*inspect.Record
	for i := range max(len(ra), len(rb)) {
		if i < len(ra) {
			recs = append(recs, ra[i])
		}
		recs = append(recs, &inspect.Record{Kind: inspect.KindWhitespace, Conn: a.conn, Raw: []byte(" ")})
		if i < len(rb) {
			recs = append(recs, rb[i])
		}
	}
	bound := &inspect.Record{Kind: inspect.KindNote, Conn: b.conn}
	bound.SetMilestone(&inspect.Milestone{Kind: inspect.MilestoneBound, JID: "dana@localhost/r"})
	return append(recs, bound, b.c2s("<presence/>"))
}

// TestHubBatchSameAsRecords: a hub given records in batches keeps and serves what it
// keeps given them one by one (the history bounded so that batches evict), and wakes a
// waiting browser once per batch.
func TestHubBatchSameAsRecords(t *testing.T) {
	recs := batchRecords(t)
	for seed := range uint64(10) {
		one, many := NewHub(Options{History: 7, Proxy: true}), NewHub(Options{History: 7, Proxy: true})
		writeAll(t, one, recs)
		s, err := many.subscribe()
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, 3))
		rest := append([]*inspect.Record(nil), recs...)
		for len(rest) > 0 {
			n := min(1+rng.IntN(6), len(rest))
			many.arm(s, many.next)
			if err := many.WriteBatch(rest[:n]); err != nil {
				t.Fatal(err)
			}
			nonWS := 0
			for _, r := range rest[:n] {
				if r.Kind != inspect.KindWhitespace {
					nonWS++
				}
			}
			select {
			case <-s.wake:
				if nonWS == 0 {
					t.Fatal("a batch of whitespace rang the bell")
				}
			default:
				if nonWS > 0 {
					t.Fatalf("a batch of %d records did not wake the waiting browser", nonWS)
				}
			}
			rest = rest[n:]
		}
		want, wnext, wg := one.read(1, ^uint64(0), 100, nil)
		got, gnext, gg := many.read(1, ^uint64(0), 100, nil)
		if wnext != gnext || wg != gg || len(got) != len(want) {
			t.Fatalf("seed %d: batches: next %d, gap %+v, %d records; one by one: next %d, gap %+v, %d records", seed, gnext, gg, len(got), wnext, wg, len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("seed %d: summary %d in batches:\n%s\none by one:\n%s", seed, i, got[i], want[i])
			}
		}
		if !reflect.DeepEqual(one.Lanes(), many.Lanes()) || one.Len() != many.Len() {
			t.Fatalf("seed %d: lanes %v, %d held in batches; %v, %d one by one", seed, many.Lanes(), many.Len(), one.Lanes(), one.Len())
		}
		if many.Lanes()[2].JID != "dana@localhost/r" {
			t.Fatalf("lanes %v: the bound JID is missing", many.Lanes())
		}
		many.Close()
		if err := many.WriteBatch(recs[:2]); !errors.Is(err, inspect.ErrClosed) {
			t.Fatalf("WriteBatch after Close: %v", err)
		}
	}
}
