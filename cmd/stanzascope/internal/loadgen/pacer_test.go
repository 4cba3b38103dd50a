package loadgen

import (
	"testing"
	"time"
)

func TestPacerSpreadsTheRate(t *testing.T) {
	// 4 clients sharing 1000 msg/s: each sends every 4 ms, offset by 1 ms from the next.
	const clients = 4
	total := int64(0)
	for i := range clients {
		p := NewPacer(1000, i, clients)
		if got := p.At(0); got != time.Duration(i)*time.Millisecond {
			t.Errorf("client %d starts at %v", i, got)
		}
		if got := p.At(3) - p.At(2); got != 4*time.Millisecond {
			t.Errorf("client %d interval %v", i, got)
		}
		if p.Due(p.At(5)) != 6 || p.Due(p.At(5)-1) != 5 {
			t.Errorf("client %d: due around message 5: %d %d", i, p.Due(p.At(5)), p.Due(p.At(5)-1))
		}
		total += p.Due(time.Second - 1)
	}
	if total != 1000 {
		t.Fatalf("%d messages due in the first second, want 1000", total)
	}
	if NewPacer(10, 3, 4).Due(0) != 0 || NewPacer(10, 0, 4).Due(0) != 1 {
		t.Fatal("first message timing")
	}
}

func TestPacerHighRate(t *testing.T) {
	// More messages per client than timer wake-ups: Due catches up in batches.
	p := NewPacer(1e6, 0, 2)
	if got := p.Due(10 * time.Millisecond); got != 5001 { // messages at 0, 2 µs, ..., 10 ms
		t.Fatalf("due %d", got)
	}
}
