package loadgen

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	prevHi := int64(-1)
	for i := range histBuckets {
		lo, hi := bucketBounds(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d is [%d, %d] after a bucket ending at %d", i, lo, hi, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= histLinear && float64(hi-lo+1)/float64(lo) > 1.0/histLinear+1e-9 {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, hi, histLinear)
		}
		prevHi = hi
	}
	if prevHi != histMax {
		t.Fatalf("last bucket ends at %d, want %d", prevHi, histMax)
	}
	if bucketOf(-5) != 0 || bucketOf(math.MaxInt64) != histBuckets-1 {
		t.Fatal("values out of range are not clamped")
	}
}

// TestQuantilesKnownDistribution records a shuffled uniform distribution and compares
// the histogram's percentiles with the exact ones: within one bucket width (3.2 %).
func TestQuantilesKnownDistribution(t *testing.T) {
	var h Histogram
	const n = 100000
	vals := make([]int64, n)
	for i := range vals {
		vals[i] = int64(i+1) * 1000 // 1 µs .. 100 ms
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(n, func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
	var wg sync.WaitGroup
	for w := range 4 { // concurrent writers, as the readers of a run are
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, v := range vals[w*n/4 : (w+1)*n/4] {
				h.Record(time.Duration(v))
			}
		}()
	}
	wg.Wait()
	var s HistSnapshot
	h.AddTo(&s)
	if s.Count() != n {
		t.Fatalf("count %d, want %d", s.Count(), n)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[int(math.Ceil(q*n))-1]
		got := int64(s.Quantile(q))
		if got < exact || float64(got-exact) > float64(exact)/histLinear {
			t.Errorf("p%g = %d, exact %d", q*100, got, exact)
		}
	}
	if s.Max != 100e6 || s.Quantile(1) != 100*time.Millisecond {
		t.Errorf("max %d, p100 %v, want 100ms", s.Max, s.Quantile(1))
	}
	if m := s.Mean(); m != time.Duration((n+1)*1000/2) {
		t.Errorf("mean %v", m)
	}
}

func TestQuantileSmallAndEmpty(t *testing.T) {
	var s HistSnapshot
	if s.Quantile(0.99) != 0 || s.Mean() != 0 {
		t.Fatal("empty histogram has percentiles")
	}
	var h Histogram
	for _, v := range []time.Duration{3, 7, 7, 20} {
		h.Record(v)
	}
	h.AddTo(&s)
	for q, want := range map[float64]time.Duration{0.25: 3, 0.5: 7, 0.75: 7, 0.99: 20, 0: 3} {
		if got := s.Quantile(q); got != want {
			t.Errorf("q%v = %v, want %v", q, got, want)
		}
	}
	// An interval: what was recorded after an earlier snapshot.
	earlier := s
	h.Record(time.Second)
	var now HistSnapshot
	h.AddTo(&now)
	iv := now.Sub(&earlier)
	if iv.Count() != 1 || iv.Quantile(0.5) < time.Second*31/32 {
		t.Errorf("interval: count %d, p50 %v", iv.Count(), iv.Quantile(0.5))
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xffff) * time.Microsecond)
	}
}
