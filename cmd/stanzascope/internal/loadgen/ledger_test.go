package loadgen

import "testing"

func TestFlowAccounting(t *testing.T) {
	var f Flow
	if first := f.Send(10); first != 1 {
		t.Fatalf("first seq %d", first)
	}
	for _, s := range []int64{1, 2, 3, 5, 8, 9, 10} {
		if !f.Received(s) {
			t.Fatalf("seq %d not counted", s)
		}
	}
	if f.Received(3) { // duplicate
		t.Fatal("duplicate counted as delivered")
	}
	if f.Received(11) || f.Received(0) || f.Received(-4) { // never sent
		t.Fatal("unsent seq counted")
	}
	f.Errored(4)
	f.Errored(4) // the same bounce twice counts once
	f.Errored(9) // bounced but also delivered: delivered
	f.Errored(99)
	if f.Acked() != 7+2 {
		t.Fatalf("acked %d", f.Acked())
	}
	got := f.Tally()
	want := Counts{Sent: 10, Delivered: 7, Errored: 1, Lost: 2, Duplicates: 1, Unexpected: 4}
	if got != want {
		t.Fatalf("tally %+v, want %+v", got, want)
	}
	if live := f.Live(); live.Sent != 10 || live.Delivered != 7 || live.Errored != 2 || live.Lost != 1 {
		t.Fatalf("live %+v", live)
	}
	var total Counts
	total.Add(got)
	total.Add(got)
	if total.Sent != 20 || total.Lost != 4 {
		t.Fatalf("sum %+v", total)
	}
}

// TestFlowLostAndLarge: nothing received, everything lost; large sequence numbers grow
// the sets.
func TestFlowLostAndLarge(t *testing.T) {
	var f Flow
	f.Send(100000)
	if c := f.Tally(); c.Lost != 100000 || c.Delivered != 0 {
		t.Fatalf("%+v", c)
	}
	for s := int64(1); s <= 100000; s += 2 {
		f.Received(s)
	}
	f.Errored(100000)
	if c := f.Tally(); c.Delivered != 50000 || c.Errored != 1 || c.Lost != 49999 {
		t.Fatalf("%+v", c)
	}
}

func TestBitset(t *testing.T) {
	var a, b bitset
	for _, n := range []int64{1, 63, 64, 65, 1000} {
		if a.set(n) {
			t.Fatalf("%d already set", n)
		}
		if !a.set(n) || !a.has(n) {
			t.Fatalf("%d not set", n)
		}
	}
	b.set(64)
	b.set(5000)
	if n := a.countAndNot(b); n != 4 {
		t.Fatalf("countAndNot %d", n)
	}
	if a.has(2) || a.has(1<<40) {
		t.Fatal("has reports absent members")
	}
}
