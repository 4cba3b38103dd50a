package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Log-linear buckets: values below histLinear are exact, above that every power of two is
// split into histLinear buckets, so a bucket is at most 1/32 (3.1 %) wide relative to its
// values. Values are nanoseconds, clamped to histMax (about 18 minutes).
const (
	histSubBits = 5
	histLinear  = 1 << histSubBits
	histMaxBits = 40
	histMax     = 1<<histMaxBits - 1
	histBuckets = histLinear + (histMaxBits-histSubBits)*histLinear
)

// bucketOf returns the bucket index of v (ns, >= 0).
func bucketOf(v int64) int {
	if v < histLinear {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	if v > histMax {
		v = histMax
	}
	n := bits.Len64(uint64(v)) // >= histSubBits+1
	shift := n - histSubBits - 1
	m := int(v >> shift) // in [histLinear, 2*histLinear)
	return histLinear + shift*histLinear + (m - histLinear)
}

// bucketBounds returns the smallest and largest value that fall in bucket i.
func bucketBounds(i int) (lo, hi int64) {
	if i < histLinear {
		return int64(i), int64(i)
	}
	shift := (i - histLinear) / histLinear
	m := int64(histLinear + (i-histLinear)%histLinear)
	return m << shift, (m+1)<<shift - 1
}

// Histogram counts latencies in fixed log-linear buckets. Record is safe for concurrent
// use; it does not allocate.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
	sum    atomic.Int64
}

// Record adds one observation of d.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
}

// AddTo adds h's counts to s.
func (h *Histogram) AddTo(s *HistSnapshot) {
	for i := range h.counts {
		s.Counts[i] += h.counts[i].Load()
	}
	s.Sum += h.sum.Load()
	s.Max = max(s.Max, h.max.Load())
}

// HistSnapshot is a plain copy of one or more histograms, for percentiles.
type HistSnapshot struct {
	Counts [histBuckets]uint64
	Sum    int64 // ns
	Max    int64 // ns
}

// Count is the number of observations.
func (s *HistSnapshot) Count() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Sub returns s minus an earlier snapshot of the same histograms (the observations made
// in between; Max stays s's).
func (s *HistSnapshot) Sub(earlier *HistSnapshot) *HistSnapshot {
	d := &HistSnapshot{Sum: s.Sum - earlier.Sum, Max: s.Max}
	for i := range s.Counts {
		d.Counts[i] = s.Counts[i] - earlier.Counts[i]
	}
	return d
}

// Quantile returns the value below or at which a fraction q (0..1) of the observations
// lie: the upper bound of the bucket holding that rank, never more than the maximum seen.
// It is 0 when there are no observations.
func (s *HistSnapshot) Quantile(q float64) time.Duration {
	n := s.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i, c := range s.Counts {
		seen += c
		if seen >= rank {
			_, hi := bucketBounds(i)
			if s.Max > 0 && hi > s.Max {
				hi = s.Max
			}
			return time.Duration(hi)
		}
	}
	return time.Duration(s.Max)
}

// Mean returns the average observation.
func (s *HistSnapshot) Mean() time.Duration {
	n := s.Count()
	if n == 0 {
		return 0
	}
	return time.Duration(s.Sum / int64(n))
}
