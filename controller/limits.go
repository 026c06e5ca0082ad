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
	// Confidence is how sure a verdict must be before a step ends on it
	// (DefaultConfidence when not in (0,1)): see Judge.
	Confidence float64
}

// DefaultConfidence is the confidence of a verdict when none is given.
const DefaultConfidence = 0.95

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

// Judge gives a step its verdict, and, for a failure, the limit it broke,
// once its evidence is conclusive at Confidence; until then it is Short.
//
// The evidence for a latency limit at quantile q is the count of judged
// requests over it against the (1 − q) of them the quantile allows: a
// binomial test. The step fails when more are over than chance allows at
// Confidence, and passes when fewer are: for p99 at 95 %, no request over
// the limit in 299 samples, one in 473, two in 628. The error budget
// fails a step the same way, when more failed than the budget allows at
// Confidence; proving a failure rate under a budget of 0.1 % would take
// thousands of requests, so a step within its budget passes on the
// latency limits' evidence, or with no latency limit once it has
// MinSamples samples. A step whose backlog grew beyond what keeping up
// allows fails by saturation, whatever its samples: the target completed
// less than it was offered, and would fail every limit if held longer.
//
// A step without a judged sample is never a pass, nor is one none of
// whose judged requests was answered (LimitSaturation). A step in which
// the generator ran out of descriptors or ports (LocalFailures) is
// Invalid: those failures are the generator's. A step that did not send
// its load says nothing about the target unless the target held every
// in-flight slot (Saturated), in which case a broken limit is the
// target's. Late sends (Lagging) do not spoil a pass — latency counts from
// the schedule, so the lag is already in it — but a latency failure that
// the lag explains (the quantile less the send lag's p99 is within the
// limit) is the generator's as much as the target's, and is Invalid. The
// time per output token, measured after the first token, owes nothing to
// the lag.
func (l Limits) Judge(w Window) (Verdict, Limit) { return l.judge(w, false) }

// JudgeAnyway judges a step that could be held no longer on the evidence
// it has: conclusive evidence as Judge weighs it, and otherwise the
// measured quantiles and error rate against the limits.
func (l Limits) JudgeAnyway(w Window) (Verdict, Limit) { return l.judge(w, true) }

// FarInside reports whether a step lies so far inside every limit that it
// only has to say "higher": at least MinHigher judged requests, most of
// them answered, failures within the budget, no backlog, and every
// latency quantile at most half its limit (a request still in flight
// counts in it with its age). Such a step need not be conclusive; it
// never stands as the capacity.
func (l Limits) FarInside(w Window) bool { return l.farInside(w, MinHigher) }

// farInside is FarInside with at least that many judged requests.
func (l Limits) farInside(w Window, least int) bool {
	if w.Samples < least || 2*w.Pending > w.Samples || w.LocalFailures > 0 || w.Behind ||
		float64(w.Failures) > l.FaultTolerate*float64(w.Samples) || backlogged(w) {
		return false
	}
	share, _ := l.latencyShare(w)
	return share <= 0.5
}

// latencyShare is the largest share of its limit a latency limit's
// measure reached in w, and whether any latency limit is set.
func (l Limits) latencyShare(w Window) (float64, bool) {
	lat := l.latencies(w)
	share := 0.0
	for _, c := range lat {
		share = math.Max(share, float64(c.at)/float64(c.max))
	}
	return share, len(lat) > 0
}

// Conclude gives a step that is over its verdict and says what it rests
// on. Evidence that Judge finds conclusive decides; otherwise a sequential
// step growing the load (auto's, before its first failure) far inside
// every limit passes as higher (FarInside): the steps that bracket the
// limit must decide. Any other step is judged on what it measured
// (JudgeAnyway). Run and offline analysis judge by it alike.
func (l Limits) Conclude(w Window, d Decision) (v Verdict, lim Limit, conclusive, higher bool) {
	if v, lim = l.Judge(w); v != Short {
		return v, lim, true, false
	}
	if d.Sequential && d.Phase == PhaseGrow && l.FarInside(w) {
		return Pass, LimitNone, false, true
	}
	v, lim = l.JudgeAnyway(w)
	return v, lim, false, false
}

// samplesToProve is how many judged requests would prove w's latency
// limits held, were no more over them than so far; MinSamples without a
// latency limit.
func (l Limits) samplesToProve(w Window) int {
	lat := l.latencies(w)
	if len(lat) == 0 {
		return l.MinSamples()
	}
	a, p := l.alpha(), 1-l.RTQuantile()
	need := 0
	for _, c := range lat {
		lo, hi := max(1, w.Samples), max(2, 2*w.Samples)
		for !Under(hi, c.over, p, a) && hi < 1<<30 {
			lo, hi = hi, 2*hi
		}
		for lo < hi {
			if mid := (lo + hi) / 2; Under(mid, c.over, p, a) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		need = max(need, hi)
	}
	return need
}

// MinHigher is the fewest judged requests a step far inside its limits
// needs to say "higher" (FarInside).
const MinHigher = 10

// latencyLimit is one latency limit set, with what a window measured of it.
type latencyLimit struct {
	max, at time.Duration
	over    int
	limit   Limit
}

// latencies lists the latency limits that are set, with w's measures.
func (l Limits) latencies(w Window) []latencyLimit {
	var out []latencyLimit
	for _, c := range []latencyLimit{
		{l.MaxRT, w.Latency, w.OverRT, LimitMaxRT},
		{l.MaxTTFT, w.TTFT, w.OverTTFT, LimitTTFT},
		{l.MaxTPOT, w.TPOT, w.OverTPOT, LimitTPOT},
	} {
		if c.max > 0 {
			out = append(out, c)
		}
	}
	return out
}

// ConfidenceLevel is the confidence verdicts are reached at: Confidence,
// or DefaultConfidence when that is not in (0,1).
func (l Limits) ConfidenceLevel() float64 {
	if !(l.Confidence > 0 && l.Confidence < 1) {
		return DefaultConfidence
	}
	return l.Confidence
}

// alpha is the chance a conclusive verdict may be wrong.
func (l Limits) alpha() float64 { return 1 - l.ConfidenceLevel() }

// judge judges w; final judges what there is when the evidence is not
// conclusive. A step that carried an earlier step's backlog and did not
// pass is Invalid (LimitBacklog): its latencies are the backlog's.
func (l Limits) judge(w Window, final bool) (Verdict, Limit) {
	v, lim := l.judgeLoad(w, final)
	if w.Carried && (v == Fail || v == Short) {
		return Invalid, LimitBacklog
	}
	return v, lim
}

// judgeLoad judges w as if it carried nothing from earlier steps.
func (l Limits) judgeLoad(w Window, final bool) (Verdict, Limit) {
	if w.Behind && !w.Saturated || w.LocalFailures > 0 {
		return Invalid, LimitGenerator
	}
	n := w.Samples
	a := l.alpha()
	allowed := 1 - l.RTQuantile()
	if n > 0 && float64(w.Failures) > l.FaultTolerate*float64(n) && (final || Over(n, w.Failures, l.FaultTolerate, a)) {
		return Fail, LimitFault
	}
	lat := l.latencies(w)
	for _, c := range lat {
		if final && c.at > c.max || Over(n, c.over, allowed, a) {
			if w.Lagging && !w.Saturated && c.limit != LimitTPOT && c.at-w.SendLag <= c.max {
				return Invalid, LimitGenerator
			}
			return Fail, c.limit
		}
	}
	if backlogged(w) {
		return Fail, LimitSaturation
	}
	if !final {
		proven := n >= l.MinSamples()
		if len(lat) > 0 {
			proven = true
			for _, c := range lat {
				proven = proven && Under(n, c.over, allowed, a)
			}
		}
		// A step whose latency is still climbing has not shown what its
		// load does: its pass is not proven.
		if !proven || float64(w.Failures) > l.FaultTolerate*float64(n) || w.Rising && len(lat) > 0 {
			return Short, LimitSamples
		}
	}
	if n == 0 {
		// Nothing judged, however long the step: no evidence is no pass.
		return Fail, LimitSamples
	}
	if w.Pending >= n {
		// Not one judged request was answered: the target is not serving.
		return Fail, LimitSaturation
	}
	if w.Behind {
		return Invalid, LimitGenerator
	}
	return Pass, LimitNone
}

// Over reports whether k of n requests beyond a limit that allows a
// fraction p of them is more than chance explains at level a: the chance
// of k or more, were the fraction p, is at most a.
func Over(n, k int, p, a float64) bool {
	if n <= 0 || float64(k) <= p*float64(n) {
		return false
	}
	if p <= 0 {
		return true
	}
	return binomialAtLeast(n, k, p) <= a
}

// Under reports whether k of n requests beyond a limit that allows a
// fraction p of them is fewer than chance explains at level a: the chance
// of k or fewer, were the fraction p, is at most a.
func Under(n, k int, p, a float64) bool {
	if n <= 0 || p <= 0 || float64(k) >= p*float64(n) {
		return false
	}
	return binomialAtMost(n, k, p) <= a
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
