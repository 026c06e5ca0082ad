package controller

import (
	"math"
	"time"
)

// Fixed holds one load for the whole run, in steps of one hold each so the
// run has a timeline: the rate, concurrency, throughput and manual modes.
// It never ends the search itself; the budget or a request count does.
type Fixed struct {
	D Decision
}

// Start returns the fixed decision.
func (f *Fixed) Start() Decision {
	d := f.D
	if d.Phase == "" {
		d.Phase = "fixed"
	}
	return d
}

// Next returns the same decision again.
func (f *Fixed) Next(Step) (Decision, Status) { return f.Start(), Running }

// Profile plays planned steps in order, whatever their verdicts: the
// stages of a load profile (constant rates, ramps, staircases), run open
// loop. Its steps are never extended, so the plan keeps its timing.
type Profile struct {
	Steps []Decision
	next  int
}

// Start returns the first planned step.
func (p *Profile) Start() Decision {
	p.next = 0
	d, _ := p.Next(Step{})
	return d
}

// Next returns the next planned step, and Finished after the last.
func (p *Profile) Next(Step) (Decision, Status) {
	if p.next >= len(p.Steps) {
		return Decision{}, Finished
	}
	d := p.Steps[p.next]
	d.Planned = true
	p.next++
	return d, Running
}

// ScanConfig configures Scan. Zero fields take the EAS defaults.
type ScanConfig struct {
	// Min is the first rate (100/s), Max the ceiling (10000/s), Delta
	// what each passing interval adds (50/s).
	Min, Max, Delta float64
	// Interval is how long each rate is held (60 s).
	Interval time.Duration
	// Action is what happens after the first failing interval.
	Action FaultAction
	// Bang tracks by ±Delta steps after a failure, as EAS's revise is
	// written, instead of the PID tracker: the baseline the tracker is
	// measured against.
	Bang bool
	// Limits are the ones Run judges with; the tracker reads them.
	Limits Limits
}

// Scan is the EAS scan mode: from Min, add Delta every Interval while the
// limits hold, until one breaks or Max is reached. After a failure, Stop
// holds the last passing rate for the rest of the run; Revise adjusts the
// rate until the limits hold and keeps tracking them with a PID loop on
// their margin (Tracker), or with Bang a Delta up after a pass and down
// after a failure.
type Scan struct {
	cfg      ScanConfig
	failed   bool
	lastPass float64
	track    *Tracker
}

// NewScan returns a scan with cfg's zero fields defaulted.
func NewScan(cfg ScanConfig) *Scan {
	orDefault(&cfg.Min, 100)
	orDefault(&cfg.Max, 10000)
	orDefault(&cfg.Delta, 50)
	orDefault(&cfg.Interval, time.Minute)
	if cfg.Action == "" {
		cfg.Action = Revise
	}
	return &Scan{cfg: cfg}
}

func (s *Scan) at(rate float64, phase string) Decision {
	return Decision{Rate: rate, Hold: s.cfg.Interval, Phase: phase}
}

// Start returns Min.
func (s *Scan) Start() Decision { return s.at(s.cfg.Min, PhaseGrow) }

// Next follows the scan.
func (s *Scan) Next(last Step) (Decision, Status) {
	rate := last.Decision.Rate
	pass := last.Verdict == Pass
	if pass {
		s.lastPass = rate
	}
	switch {
	case !s.failed && pass:
		if rate >= s.cfg.Max {
			return Decision{}, ReachedMax
		}
		return s.at(math.Min(rate+s.cfg.Delta, s.cfg.Max), PhaseGrow), Running
	case !s.failed && verdictOf(last) == Invalid:
		return Decision{}, GeneratorBound
	case !s.failed:
		s.failed = true
	}
	if s.cfg.Action == Stop {
		if s.lastPass == 0 {
			return Decision{}, NotFound
		}
		return s.at(s.lastPass, "hold"), Running
	}
	if !s.cfg.Bang {
		if s.track == nil {
			s.track = NewTracker(Tracker{Min: math.Min(s.cfg.Min, s.cfg.Delta), Max: s.cfg.Max}, s.lastPass, rate)
		}
		next := s.track.Next(last, s.cfg.Limits)
		phase := PhaseTrack
		if next < rate {
			phase = "backoff"
		}
		return s.at(next, phase), Running
	}
	if pass {
		return s.at(math.Min(rate+s.cfg.Delta, s.cfg.Max), PhaseTrack), Running
	}
	if rate <= s.cfg.Delta {
		// Nothing lighter to back off to.
		return s.at(rate, "backoff"), Running
	}
	return s.at(rate-s.cfg.Delta, "backoff"), Running
}

// AutoConfig configures Auto. Zero fields take the defaults given.
type AutoConfig struct {
	// Start is the first rate (100/s); Max the ceiling (10000/s).
	Start, Max float64
	// Growth multiplies the rate after each pass until the first failure
	// (2).
	Growth float64
	// Precision is the relative width of the bracket [last pass, first
	// fail] at which the search stops narrowing (0.02).
	Precision float64
	// Hold is each step's length (5 s); ConfirmHold the final step's at
	// the answer (2 × Hold).
	Hold, ConfirmHold time.Duration
	// Limits are the ones Run judges with; Auto reads them to interpolate.
	Limits Limits
	// Bisect narrows by plain bisection, the baseline the interpolation
	// is measured against.
	Bisect bool
	// Track, when positive, holds the load at the answer this long once
	// it is confirmed, tracking the limit (Tracker): a soak at capacity,
	// which shows a capacity that drifts.
	Track time.Duration
}

// Auto finds the capacity: it grows the rate geometrically until a step
// fails, narrows the bracket between the last pass and the first fail
// until it is within Precision, then confirms the last passing rate with
// a longer hold. A failed confirmation lowers the bracket and the search
// goes on.
//
// Narrowing is a safeguarded interpolation rather than plain bisection.
// A failing step that was saturated (it completed under 97 % of what it
// was offered) closes the bracket down to its good throughput: no more
// than that can be sustained. For an error limit the next guess is the
// failing step's good throughput (achieved × success fraction), the limit
// itself for a target that rejects what exceeds its rate. For a latency
// limit below saturation it interpolates linearly in 1/(R − R0), which is
// linear in load for the queueing shape R = R0 + a/(μ − λ). Guesses are
// kept off the bracket's ends, and when the same end moved twice in a row
// the next guess is the bisection point, so the bracket shrinks at least
// as bisection would every other step. Over the test plants (an M/M/8
// queue, a hard rate limit, an error ramp; ten seeds each) this takes 381
// steps where plain bisection takes 431 and a scan at 2 % resolution over
// 1500 (TestAutoBeatsBisection).
type Auto struct {
	cfg    AutoConfig
	lo, hi float64 // last pass, first fail; 0 when not yet seen
	hiStep Step
	loStep Step
	passes []Step // every pass, to fall back on when a confirmation fails
	// hiSaturated is set when hi was inferred from a saturated step's
	// throughput rather than measured.
	hiSaturated bool
	lastMoved   int // -1 lo moved, +1 hi moved
	sameMoves   int
	confirming  bool
	// allFailed counts the steps in a row in which every request failed
	// before any load passed.
	allFailed int
	// tracker holds the answer once confirmed, for tracking more steps.
	tracker  *Tracker
	tracking int
}

// maxAllFailed is how many steps in a row may fail every request before
// any load passed, before Auto gives up: backing off does not mend a
// wrong URL or a missing credential.
const maxAllFailed = 2

// NewAuto returns an auto search with cfg's zero fields defaulted.
func NewAuto(cfg AutoConfig) *Auto {
	orDefault(&cfg.Start, 100)
	orDefault(&cfg.Max, 10000)
	if cfg.Growth <= 1 {
		cfg.Growth = 2
	}
	orDefault(&cfg.Precision, 0.02)
	orDefault(&cfg.Hold, 5*time.Second)
	orDefault(&cfg.ConfirmHold, 2*cfg.Hold)
	return &Auto{cfg: cfg}
}

func (a *Auto) at(rate float64, phase string) Decision {
	return Decision{Rate: rate, Hold: a.cfg.Hold, Phase: phase, Sequential: true}
}

// track is a step holding the limit: it keeps its length and is judged
// at its end, as a scan's are.
func (a *Auto) track(rate float64) Decision {
	d := a.at(rate, PhaseTrack)
	d.Sequential = false
	return d
}

// Start returns the first rate.
func (a *Auto) Start() Decision { return a.at(math.Min(a.cfg.Start, a.cfg.Max), PhaseGrow) }

// Next narrows the search.
func (a *Auto) Next(last Step) (Decision, Status) {
	rate := last.Decision.Rate
	if a.tracker != nil {
		if a.tracking--; a.tracking <= 0 {
			return Decision{}, Converged
		}
		return a.track(a.tracker.Next(last, a.cfg.Limits)), Running
	}
	switch verdictOf(last) {
	case Pass:
		if a.confirming && a.cfg.Track > 0 {
			// Confirmed: hold it, tracking the limit.
			a.tracker = NewTracker(Tracker{Min: a.floor(), Max: a.cfg.Max}, a.lo, a.hi)
			a.tracking = int(math.Ceil(float64(a.cfg.Track) / float64(a.cfg.Hold)))
			return a.track(rate), Running
		}
		if a.confirming {
			return Decision{}, Converged
		}
		a.passes = append(a.passes, last)
		if rate > a.lo {
			a.lo, a.loStep = rate, last
			a.moved(-1)
		}
	case Fail:
		if w := last.Window; a.lo == 0 && w.Samples > 0 && w.Failures == w.Samples {
			if a.allFailed++; a.allFailed >= maxAllFailed {
				return Decision{}, NotFound
			}
		} else {
			a.allFailed = 0
		}
		if a.confirming {
			// The confirmation broke a limit: the answer lies lower, under
			// the best pass below it.
			a.hi, a.hiStep = rate, last
			a.lo, a.loStep = 0, Step{}
			for _, p := range a.passes {
				if r := p.Decision.Rate; r < rate && r > a.lo {
					a.lo, a.loStep = r, p
				}
			}
		} else if a.hi == 0 || rate < a.hi {
			a.hi, a.hiStep, a.hiSaturated = rate, last, false
			a.moved(+1)
		}
		// A saturated target completes no more than its good throughput:
		// any rate above that grows a queue without bound and must fail,
		// so the bracket closes down to it.
		// A target that completed nothing bounds nothing: the failing
		// rate stays the bracket's top.
		if bound := math.Max(goodput(last.Window), a.lo*(1+a.cfg.Precision/2)); overloaded(last.Window, settledLatency(a.passes, rate)) && bound > 0 && bound < a.hi {
			a.hi = bound
			a.hiSaturated = true
		}
	case Invalid:
		// The generator cannot offer this rate: nothing above it can be
		// tested either.
		return Decision{}, GeneratorBound
	}
	a.confirming = false
	switch {
	case a.hi == 0:
		if a.lo >= a.cfg.Max {
			return Decision{}, ReachedMax
		}
		return a.at(math.Min(a.lo*a.growth(a.loStep.Window), a.cfg.Max), PhaseGrow), Running
	case a.lo == 0:
		next := a.hi / a.cfg.Growth
		if next < a.floor() {
			return Decision{}, NotFound
		}
		return a.at(next, "backoff"), Running
	case (a.hi-a.lo)/a.lo <= a.cfg.Precision:
		a.confirming = true
		d := a.at(a.lo, PhaseConfirm)
		d.Hold = a.cfg.ConfirmHold
		return d, Running
	}
	return a.at(a.guess(), "bisect"), Running
}

// verdictOf is the verdict a search acts on: a step still carrying an
// earlier backlog once Run has repeated it (after drains) as often as it
// may is a target that does not recover at that load, a failure; other
// invalid steps are the generator's.
func verdictOf(s Step) Verdict {
	if s.Verdict == Invalid && s.Limit == LimitBacklog {
		return Fail
	}
	return s.Verdict
}

// growth is the factor the rate grows by after a pass at w: Growth for a
// step near a latency limit (at over half of it), up to Growth² for one
// far below (at an eighth or less), since such a step says little more
// than "higher". Without a latency limit it is Growth. It is Growth too
// once the end-to-end latency has risen to over 1.25 times the lowest a
// pass measured: the target is filling up (a batching replica's batch,
// a pool's workers), and its limit is nearer than the judged measure
// shows — a time to first token stays flat until a batch is full.
func (a *Auto) growth(w Window) float64 {
	g := a.cfg.Growth
	m, set := a.cfg.Limits.latencyShare(w)
	if !set || a.filling(w) {
		return g
	}
	if m <= 0 {
		return g * g
	}
	return math.Min(g*g, g*math.Max(1, math.Sqrt(0.5/m)))
}

// filling reports whether w's end-to-end latency is over 1.25 times the
// lowest a pass measured.
func (a *Auto) filling(w Window) bool {
	low := w.Latency
	for _, p := range a.passes {
		if p.Window.Latency > 0 {
			low = min(low, p.Window.Latency)
		}
	}
	return float64(w.Latency) > 1.25*float64(low)
}

// floor is the lowest rate auto backs off to: one at which a step still
// judges a few requests (the samples its quantile wants beyond it), and
// no lower than a thousandth of the start. Below it a step says nothing.
func (a *Auto) floor() float64 {
	tail := a.cfg.Limits.MinTail
	if tail <= 0 {
		tail = DefaultLimits().MinTail
	}
	return math.Max(a.cfg.Start/1024, float64(tail)/a.cfg.Hold.Seconds())
}

// moved notes which end of the bracket moved, to fall back to bisection
// when interpolation keeps landing on one side.
func (a *Auto) moved(end int) {
	if end == a.lastMoved {
		a.sameMoves++
	} else {
		a.lastMoved, a.sameMoves = end, 1
	}
}

// guess returns the next rate inside (lo, hi).
func (a *Auto) guess() float64 {
	mid := (a.lo + a.hi) / 2
	if a.cfg.Bisect || a.sameMoves >= 2 {
		a.sameMoves = 0
		return mid
	}
	if a.hiSaturated {
		// The bracket's top is an inferred bound with no measurement to
		// interpolate from.
		return mid
	}
	g := mid
	lim := a.cfg.Limits
	w := a.hiStep.Window
	if a.cliff() {
		// Latency jumps by an order of magnitude inside the bracket: no
		// smooth curve runs through it, so halve it.
		return mid
	}
	switch a.hiStep.Limit {
	case LimitFault:
		// A target that rejects what exceeds its rate answers its rate.
		g = goodput(w)
	case LimitMaxRT:
		g = a.interpolate(func(w Window) time.Duration { return w.Latency }, lim.MaxRT)
	case LimitTTFT:
		g = a.interpolate(func(w Window) time.Duration { return w.TTFT }, lim.MaxTTFT)
	case LimitTPOT:
		g = a.interpolate(func(w Window) time.Duration { return w.TPOT }, lim.MaxTPOT)
	}
	// Keep off the ends, so each guess narrows the bracket by a useful
	// amount; a guess within precision of an end would waste a step.
	margin := a.lo * a.cfg.Precision / 2
	if math.IsNaN(g) || g <= a.lo+margin {
		g = a.lo + margin
	}
	if g >= a.hi-margin {
		g = a.hi - margin
	}
	if g <= a.lo || g >= a.hi {
		return mid
	}
	return g
}

// cliff reports whether a latency limit's measure at the bracket's top is
// ten times or more what it was at its bottom: a cliff, such as a
// batching replica's queue or a service past its last worker, where
// interpolating along a queueing curve would hug the failing end.
func (a *Auto) cliff() bool {
	lo, hi := a.cfg.Limits.latencies(a.loStep.Window), a.cfg.Limits.latencies(a.hiStep.Window)
	for i := range lo {
		if i < len(hi) && lo[i].at > 0 && hi[i].at >= 10*lo[i].at {
			return true
		}
	}
	return false
}

// KeepUp is the fraction of the offered load a step must complete to
// count as keeping up with it; analysis judges recorded steps by it too.
const KeepUp = 0.97

// overloaded reports whether a step completed under KeepUp of what it was
// offered, beyond what the latency of its answers explains: its target
// could not keep up. For about a latency after a step starts — from an
// empty system after a drain — fewer answers come than the step offers,
// so with latencies of seconds (an LLM's) a sound step completes visibly
// less than it was offered. That lag is bounded by the latency answers
// take when the target keeps up: settled, the latency at the quantile of
// the passing steps below (zero when none passed, when the step's own
// stands in). A step's own latency would not do: a backlog inflates it,
// and with it the lag it forgives, until an overloaded step looked sound.
func overloaded(w Window, settled time.Duration) bool {
	if w.Offered <= 0 {
		return false
	}
	lag := 0.0
	if d := w.Duration.Seconds(); d > 0 {
		lag = w.Offered * math.Min(1, unqueued(w, settled).Seconds()/d)
	}
	return w.Achieved < KeepUp*w.Offered-lag
}

// KeptUp reports whether open-loop step i of a run's steps kept up with
// its offer: its requests in flight did not pile up, and it passed or
// completed what it was offered, but for the answers that lag a step's
// start (as long as those of the passes before it took). Only such steps
// lie on the stationary latency curve that analysis fits; a step with
// answers of seconds (an LLM's) completes visibly less than it is
// offered, and still does.
func KeptUp(steps []Step, i int) bool {
	s := steps[i]
	if s.Decision.Rate <= 0 || s.Verdict == Invalid || backlogged(s.Window) {
		return false
	}
	return s.Verdict == Pass || !overloaded(s.Window, settledLatency(steps[:i], s.Decision.Load()))
}

// unqueued is the latency of w's answers without a backlog: the settled
// latency of the passes below when it is lower than w's own.
func unqueued(w Window, settled time.Duration) time.Duration {
	if settled > 0 {
		return min(w.Latency, settled)
	}
	return w.Latency
}

// settledLatency is the highest latency at the quantile among passing
// steps below load: what answers take while the target keeps up
// (overloaded).
func settledLatency(steps []Step, load float64) time.Duration {
	var lat time.Duration
	for _, s := range steps {
		if s.Verdict == Pass && s.Decision.Load() < load {
			lat = max(lat, s.Window.Latency)
		}
	}
	return lat
}

// goodput is the rate of successful completions in a window.
func goodput(w Window) float64 {
	if w.Samples == 0 {
		return w.Achieved
	}
	return w.Achieved * (1 - float64(w.Failures)/float64(w.Samples))
}

// interpolate finds where a latency metric reaches limit, assuming the
// queueing shape R(λ) = R0 + a/(μ − λ): 1/(R − R0) is linear in load. R0
// is the lowest value seen at any passing load, standing for the latency
// without queueing. It returns NaN when the points give no answer.
func (a *Auto) interpolate(metric func(Window) time.Duration, limit time.Duration) float64 {
	r0 := time.Duration(math.MaxInt64)
	for _, p := range a.passes {
		if v := metric(p.Window); v > 0 && v < r0 {
			r0 = v
		}
	}
	rLo, rHi := metric(a.loStep.Window), metric(a.hiStep.Window)
	if r0 == math.MaxInt64 || rHi <= limit || limit <= r0 {
		return math.NaN()
	}
	// Just above R0 the inverse is huge and the line meaningless; lift the
	// low point a little above R0.
	rLo = max(rLo, r0+(limit-r0)/10)
	gLo := 1 / (rLo - r0).Seconds()
	gHi := 1 / (rHi - r0).Seconds()
	gT := 1 / (limit - r0).Seconds()
	if gLo == gHi {
		return math.NaN()
	}
	return a.lo + (gLo-gT)*(a.hi-a.lo)/(gLo-gHi)
}

var (
	_ Controller = (*Fixed)(nil)
	_ Controller = (*Scan)(nil)
	_ Controller = (*Auto)(nil)
)

// orDefault sets *v to def when it is not positive: a zero field of a
// configuration means its default.
func orDefault[T float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
