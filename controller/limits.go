package controller

import (
	"math"
	"time"
)

// Limits are the service levels a step is judged against. A zero limit is
// off, except FaultTolerate, where zero means no failure is tolerated.
type Limits struct {
	// MaxRT bounds the end-to-end latency at Quantile (a fraction).
	MaxRT    time.Duration
	Quantile float64
	// FaultTolerate is the largest fraction of failed requests a step may
	// have (EAS faultTolerate).
	FaultTolerate float64
	// MaxQPS caps every decision's rate.
	MaxQPS float64
	// MaxTTFT and MaxTPOT bound time to first token and time per output
	// token at Quantile.
	MaxTTFT, MaxTPOT time.Duration
	// MinTail is how many samples must lie beyond the quantile before it is
	// trusted: a step needs MinSamples() samples to pass.
	MinTail int
}

// DefaultQuantile is the latency quantile limits apply to when none is
// given: EAS's p99.
const DefaultQuantile = 0.99

// DefaultLimits returns the EAS defaults: p99, one failure in a thousand,
// and five samples beyond the quantile.
func DefaultLimits() Limits {
	return Limits{Quantile: DefaultQuantile, FaultTolerate: 0.001, MinTail: 5}
}

// RTQuantile is the quantile the latency limits apply to: Quantile, or
// DefaultQuantile when that is not in (0,1).
func (l Limits) RTQuantile() float64 {
	if !(l.Quantile > 0 && l.Quantile < 1) {
		return DefaultQuantile
	}
	return l.Quantile
}

// MinSamples is the number of samples a step needs for its verdict:
// enough that MinTail of them lie beyond the quantile.
func (l Limits) MinSamples() int {
	tail := l.MinTail
	if tail <= 0 {
		tail = 5
	}
	return int(math.Ceil(float64(tail) / (1 - l.RTQuantile())))
}

// MaxSendLag is the send lag p99 above which a step that broke a latency
// limit is blamed on the generator rather than the target: a
// millisecond, or a hundredth of the tightest latency limit when that is
// more, since a lag far below a limit cannot have broken it.
func (l Limits) MaxSendLag() time.Duration {
	tightest := time.Duration(0)
	for _, d := range []time.Duration{l.MaxRT, l.MaxTTFT, l.MaxTPOT} {
		if d > 0 && (tightest == 0 || d < tightest) {
			tightest = d
		}
	}
	return max(time.Millisecond, tightest/100)
}

// Judge gives a step its verdict and, for a failure, the limit it broke.
//
// A step without a judged sample fails (LimitSamples) when judged anyway:
// no evidence is never a pass; nor is a step none of whose judged
// requests was answered (LimitSaturation).
//
// A step in which the generator ran out of descriptors or ports
// (LocalFailures) is Invalid: those failures are the generator's.
//
// A step that did not send its load says nothing about the target unless
// the target held every in-flight slot (Saturated), in which case a broken
// limit is the target's. Late sends (Lagging) do not spoil a pass —
// latency counts from the schedule, so the lag is already in it — but a
// latency failure with late sends is the generator's as much as the
// target's, and is Invalid. A step with fewer than MinSamples samples is
// Short — unless the evidence is already conclusive: more failures than
// the budget allows for MinSamples requests, or more requests over a
// latency limit (MaxRT, MaxTTFT, MaxTPOT) than the quantile allows for
// that many. A step whose backlog grew beyond what keeping up allows
// fails by saturation whatever its samples: the target completed less
// than it was offered, and would fail every limit if held longer.
func (l Limits) Judge(w Window) (Verdict, Limit) { return l.judge(w, l.MinSamples()) }

// JudgeAnyway judges a step on the evidence it has, however few its
// samples: for a step that could be held no longer.
func (l Limits) JudgeAnyway(w Window) (Verdict, Limit) { return l.judge(w, 0) }

// judge judges with need samples required; zero judges what there is.
func (l Limits) judge(w Window, need int) (Verdict, Limit) {
	if w.Behind && !w.Saturated || w.LocalFailures > 0 {
		return Invalid, LimitGenerator
	}
	n := w.Samples
	enough := n >= need
	q := l.RTQuantile()
	if n > 0 {
		budget := l.FaultTolerate * float64(max(n, need))
		if f := float64(w.Failures); f > l.FaultTolerate*float64(n) && (enough || f > budget) {
			return Fail, LimitFault
		}
	}
	latency := func(broken Limit) (Verdict, Limit) {
		if w.Lagging && !w.Saturated {
			return Invalid, LimitGenerator
		}
		return Fail, broken
	}
	for _, c := range []struct {
		max, at time.Duration
		over    int
		limit   Limit
	}{
		{l.MaxRT, w.Latency, w.OverRT, LimitMaxRT},
		{l.MaxTTFT, w.TTFT, w.OverTTFT, LimitTTFT},
		{l.MaxTPOT, w.TPOT, w.OverTPOT, LimitTPOT},
	} {
		if c.max > 0 && (enough && c.at > c.max || float64(c.over) > (1-q)*float64(max(n, need))) {
			return latency(c.limit)
		}
	}
	if backlogged(w) {
		return Fail, LimitSaturation
	}
	if !enough {
		return Short, LimitSamples
	}
	if n > 0 && w.Pending >= n {
		// Not one judged request was answered: the target is not serving.
		return Fail, LimitSaturation
	}
	if n == 0 {
		// Nothing judged, however long the step: no evidence is no pass.
		return Fail, LimitSamples
	}
	if w.Behind {
		return Invalid, LimitGenerator
	}
	return Pass, LimitNone
}

// backlogged reports whether the requests in flight grew over a step's
// judged part by more than keeping up allows. A target that keeps up holds
// their number level (Little's law: rate × latency); one that completes
// less than it is offered piles up the difference. The growth allowed is
//   - the 3 % of the step's requests that KeepUp forgives,
//   - three standard deviations of the count's noise (a Poisson count's
//     variance is its mean, and two counts are compared), and
//   - what latency explains: after the step starts the count climbs
//     toward rate × latency for about a latency, so with answers slower
//     than the warm-up the climb goes on into the judged part; and a
//     ramp's count rises with its rate, by the rise times the latency.
func backlogged(w Window) bool {
	if w.Offered <= 0 || w.Duration <= 0 {
		return false
	}
	lat, warm, judged := w.Latency.Seconds(), w.Warmup.Seconds(), w.Duration.Seconds()
	atJudged, rise := w.Offered, 0.0
	if w.RateEnd > 0 {
		// Offered is the ramp's mean over warm-up and judged part.
		r0 := 2*w.Offered - w.RateEnd
		atJudged = r0 + (w.RateEnd-r0)*warm/(warm+judged)
		rise = math.Max(0, w.RateEnd-atJudged)
	}
	climb := math.Max(0, math.Min(atJudged*lat-float64(w.InFlightStart), atJudged*math.Min(judged, math.Max(0, lat-warm))))
	noise := 3 * math.Sqrt(2*math.Max(1, float64(w.InFlightEnd)))
	grew := float64(w.InFlightEnd - w.InFlightStart)
	return grew > (1-KeepUp)*float64(w.Samples)+noise+climb+rise*lat
}
