package rundir

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms count microseconds from 1 µs to one hour with three
// significant digits, enough for a 20 s timeout and for sub-millisecond
// loopback latencies alike.
const (
	histMin     = 1
	histMax     = int64(time.Hour / time.Microsecond)
	histSigFigs = 3
)

// coarseSigFigs is the precision of the histograms that are compared or
// checked against a loose bound rather than judged against a limit: the
// halves of a step (Early, Late) and the send lag. Two digits keep a
// tenth of the memory of three.
const coarseSigFigs = 2

// newCoarseHistogram returns a histogram of NewHistogram's range at
// coarseSigFigs.
func newCoarseHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, coarseSigFigs)
}

// NewHistogram returns a latency histogram of microseconds, from 1 µs to
// an hour at three significant digits: the one every window and analysis
// uses.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, histSigFigs)
}

// RecordNs adds a duration in nanoseconds to h, clamped to its range so a
// pathological value never drops out of the counts.
func RecordNs(h *hdrhistogram.Histogram, ns int64) {
	us := ns / int64(time.Microsecond)
	if us < histMin {
		us = histMin
	}
	if us > histMax {
		us = histMax
	}
	// The error is impossible after clamping.
	_ = h.RecordValue(us)
}

// Quantile returns the value at quantile q (a fraction in [0,1]) of a
// histogram of microseconds, as a duration. HdrHistogram's own API takes a
// percent; this is the one place that converts. An empty histogram gives 0.
func Quantile(h *hdrhistogram.Histogram, q float64) time.Duration {
	if h == nil || h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(h.ValueAtQuantile(q*100)) * time.Microsecond
}

// CountAbove returns how many values of a histogram of microseconds exceed
// d. HdrHistogram keeps values to three significant digits, so a value
// within that precision of d counts as equal to it, not above.
func CountAbove(h *hdrhistogram.Histogram, d time.Duration) int64 {
	if h == nil {
		return 0
	}
	limit := int64(d / time.Microsecond)
	var n int64
	for _, b := range h.Distribution() {
		if b.From > limit {
			n += b.Count
		}
	}
	return n
}

// Max is the largest value of a histogram of microseconds, as a duration;
// 0 when empty.
func Max(h *hdrhistogram.Histogram) time.Duration {
	if h == nil || h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(h.Max()) * time.Microsecond
}

// Mean is the mean of a histogram of microseconds, as a duration; 0 when
// empty.
func Mean(h *hdrhistogram.Histogram) time.Duration {
	if h == nil || h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(h.Mean() * float64(time.Microsecond))
}
