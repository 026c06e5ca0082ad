package probe

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

// Window summarises one step as the engine saw it.
//
// The judged part of a step is the requests scheduled between its warm-up
// and its tail (see Load). A judged request still in flight when the step
// was cut counts as a sample whose latency is its age at the cut: a lower
// bound, exact as to whether it exceeds any limit shorter than that age.
type Window struct {
	Step int
	// Rate is the offered requests per second (0 in closed loop);
	// Concurrency the in-flight bound or closed-loop workers.
	Rate        float64
	Concurrency int
	// RateEnd is the rate a ramp step ended at (Rate is then its mean);
	// zero for a step at one rate.
	RateEnd float64
	// Start and End are the step's times since the run's zero.
	Start, End time.Duration
	// JudgedStart and JudgedEnd bound the scheduled times judged.
	JudgedStart, JudgedEnd time.Duration

	// Sent counts requests dispatched during the step; Completed the
	// responses (of any step) that finished during it.
	Sent, Completed int64
	// Samples counts judged requests: OK + Failed + Pending.
	Samples, OK, Failed, Pending int64
	// Errors counts judged failures by class; a non-2xx answer counts as
	// "status" and its code ("status 503").
	Errors map[string]int64

	// Latency (end − scheduled), ServiceTime (end − sent), TTFT and TPOT
	// are over the judged requests, in microseconds; SendLag (sent −
	// scheduled) over every request sent in the step.
	Latency, ServiceTime, SendLag, TTFT, TPOT *hdrhistogram.Histogram

	BytesOut, BytesIn          int64
	PromptTokens, OutputTokens int64

	// ScheduleLag is how far the open-loop schedule had fallen behind when
	// the step was cut: the cut time less the scheduled time of the next
	// send still due (zero when on time, and in closed loop).
	ScheduleLag time.Duration

	// Saturated is set when the scheduler had to wait for an in-flight slot
	// during the step: the target held every slot.
	Saturated bool

	// InFlightStart and InFlightEnd are the requests in flight (sent and
	// not yet answered, of any step) as the judged part began and at the
	// cut. A target that keeps up holds their number steady; one that
	// cannot grows a backlog by the excess of the offer over what it
	// completes.
	InFlightStart, InFlightEnd int64
}

// Duration is the step's length.
func (w *Window) Duration() time.Duration { return w.End - w.Start }

// Judged is the length of the judged part of the step.
func (w *Window) Judged() time.Duration { return w.JudgedEnd - w.JudgedStart }

// Achieved is the rate at which responses completed during the step.
func (w *Window) Achieved() float64 {
	d := w.Duration().Seconds()
	if d <= 0 {
		return 0
	}
	return float64(w.Completed) / d
}

// ErrorRate is the judged failures over judged samples. Pending requests
// are not failures (yet).
func (w *Window) ErrorRate() float64 {
	if w.Samples == 0 {
		return 0
	}
	return float64(w.Failed) / float64(w.Samples)
}

// Behind reports whether the generator ended the step more than 3 % of
// it behind its schedule.
func (w *Window) Behind() bool { return BehindSchedule(w.ScheduleLag, w.Duration()) }

// BehindSchedule reports whether a schedule lag at the end of a step of
// length d means the generator could not keep the step's pace: it owed
// more than 3 % of the step. The lag is measured against the schedule
// itself, so a random (Poisson) schedule that happened to draw fewer sends
// than rate × d is not behind.
func BehindSchedule(lag, d time.Duration) bool { return d > 0 && lag*100 > d*3 }

// Lagging reports whether the step's sends left late: send lag p99 over
// maxLag.
func (w *Window) Lagging(maxLag time.Duration) bool {
	return Quantile(w.SendLag, 0.99) > maxLag
}
