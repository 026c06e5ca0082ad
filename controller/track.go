package controller

import "math"

// Tracker holds a load at a limit once the limit is known: a PI loop, in
// velocity form, on the normalized margin. The margin is how much of its
// limit the tightest one used (Usage: the latency quantile against its
// limit, the error rate against the budget); the loop steers its
// logarithm to that of Setpoint, moving the rate by a factor each step:
//
//	log r' = log r + Kp·(e − e_prev) + Ki·e,  e = log(Setpoint / usage)
//
// The velocity form keeps no integral, so nothing winds up while the rate
// is held at a bound. Each move is bounded by MaxStep, and the rate stays
// within the bracket of what passed and what failed, below its middle;
// the bracket's ends relax by Forget a step so that a drifting capacity
// is followed.
type Tracker struct {
	// Setpoint is the share of the tightest limit to hold (0.9).
	Setpoint float64
	// Kp and Ki are the gains on the log margin (0.2 and 0.3).
	Kp, Ki float64
	// MaxStep is the largest factor of one move (1.25).
	MaxStep float64
	// Forget is the relative amount the bracket's ends relax by each step
	// (0.02).
	Forget float64
	// Min and Max bound every rate.
	Min, Max float64

	lo, hi float64 // highest recent pass, lowest recent fail; 0 unset
	prevE  float64
	primed bool
	failed bool // the last step failed
}

// NewTracker returns a tracker with t's zero fields defaulted, its
// bracket starting at [lo, hi] (0 for an open end).
func NewTracker(t Tracker, lo, hi float64) *Tracker {
	orDefault(&t.Setpoint, 0.9)
	orDefault(&t.Kp, 0.2)
	orDefault(&t.Ki, 0.3)
	orDefault(&t.MaxStep, 1.25)
	orDefault(&t.Forget, 0.02)
	orDefault(&t.Max, math.Inf(1))
	t.lo, t.hi = lo, hi
	return &t
}

// Next returns the rate to offer after a judged step at rate.
func (t *Tracker) Next(last Step, lim Limits) float64 {
	rate := last.Decision.Rate
	switch verdictOf(last) {
	case Pass:
		t.lo = math.Max(t.lo, rate)
		if t.hi > 0 && t.hi <= t.lo {
			t.hi = 0
		}
	case Fail:
		// What passed below may no longer pass: a second failure in a row
		// lowers the bracket's bottom by a few Forgets at once, so that a
		// capacity that dropped is followed within a few steps.
		t.hi = rate
		t.lo = math.Min(t.lo, rate)
		if t.failed {
			t.lo *= 1 - 5*t.Forget
		}
	}
	t.failed = verdictOf(last) == Fail
	e := math.Log(t.Setpoint / math.Max(Usage(last, lim), 1e-3))
	step := t.Ki * e
	if t.primed {
		step += t.Kp * (e - t.prevE)
	}
	t.prevE, t.primed = e, true
	bound := math.Log(t.MaxStep)
	next := rate * math.Exp(math.Max(-bound, math.Min(bound, step)))
	// Inside a bracket the loop goes no further than its middle: a limit
	// with no gradient below it (an error budget, a cliff) is then
	// bisected rather than hit again and again.
	if t.lo > 0 && t.hi > 0 {
		next = math.Min(next, (t.lo+t.hi)/2)
	}
	if t.lo > 0 {
		next = math.Max(next, t.lo)
	}
	// The bracket relaxes: what passed a while ago may fail now, and the
	// reverse.
	t.lo *= 1 - t.Forget
	if t.hi > 0 {
		t.hi *= 1 + t.Forget
	}
	return math.Max(t.Min, math.Min(t.Max, next))
}

// Usage is the share of its limit the tightest limit used in a step: its
// latency quantiles against their limits and its error rate against the
// budget, the largest of them; 2 for a step that failed on a limit
// without a measure of it (saturation, samples).
func Usage(s Step, lim Limits) float64 {
	w := s.Window
	u, _ := lim.latencyShare(w)
	if w.Samples > 0 {
		frac := float64(w.Failures) / float64(w.Samples)
		switch {
		case lim.FaultTolerate > 0:
			u = math.Max(u, frac/lim.FaultTolerate)
		case frac > 0:
			u = math.Max(u, 2)
		}
	}
	if verdictOf(s) == Fail {
		u = math.Max(u, 1+1e-9)
		if s.Limit == LimitSaturation || s.Limit == LimitSamples || s.Limit == LimitBacklog {
			u = math.Max(u, 2)
		}
	}
	return u
}
