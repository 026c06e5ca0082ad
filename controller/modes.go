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

// ScanConfig configures Scan. Zero fields take the EAS defaults.
type ScanConfig struct {
	// Min is the first rate (100/s), Max the ceiling (10000/s), Delta
	// what each passing interval adds (50/s).
	Min, Max, Delta float64
	// Interval is how long each rate is held (60 s).
	Interval time.Duration
	// Action is what happens after the first failing interval.
	Action FaultAction
}

// Scan is the EAS scan mode: from Min, add Delta every Interval while the
// limits hold, until one breaks or Max is reached. After a failure, Stop
// holds the last passing rate for the rest of the run; Revise backs off by
// Delta until every limit holds, then keeps tracking the limit, a Delta up
// after a pass and down after a failure.
type Scan struct {
	cfg      ScanConfig
	failed   bool
	lastPass float64
}

// NewScan returns a scan with cfg's zero fields defaulted.
func NewScan(cfg ScanConfig) *Scan {
	if cfg.Min <= 0 {
		cfg.Min = 100
	}
	if cfg.Max <= 0 {
		cfg.Max = 10000
	}
	if cfg.Delta <= 0 {
		cfg.Delta = 50
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Action == "" {
		cfg.Action = Revise
	}
	return &Scan{cfg: cfg}
}

func (s *Scan) at(rate float64, phase string) Decision {
	return Decision{Rate: rate, Hold: s.cfg.Interval, Phase: phase}
}

// Start returns Min.
func (s *Scan) Start() Decision { return s.at(s.cfg.Min, "grow") }

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
		return s.at(math.Min(rate+s.cfg.Delta, s.cfg.Max), "grow"), Running
	case !s.failed && last.Verdict == Invalid:
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
	if pass {
		return s.at(math.Min(rate+s.cfg.Delta, s.cfg.Max), "track"), Running
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
}

// Auto finds the capacity: it grows the rate geometrically until a step
// fails, narrows the bracket between the last pass and the first fail
// until it is within Precision, then confirms the last passing rate with
// a longer hold. A failed confirmation lowers the bracket and the search
// goes on.
//
// Narrowing is a safeguarded interpolation rather than plain bisection.
// For an error limit the next guess is the failing step's good throughput
// (achieved × success fraction), which is the limit itself for a target
// that rejects what exceeds its rate. For a latency limit it interpolates
// linearly in 1/latency, which is linear in load for a single queue
// (R = S + a/(μ − λ) with small S). Guesses are kept off the bracket's
// ends, and when the same end moved twice in a row the next guess is the
// bisection point, so the bracket always shrinks at least as bisection
// would every other step. Against the test plants this needs about half
// the narrowing steps of plain bisection (see TestAutoBeatsBisection).
type Auto struct {
	cfg        AutoConfig
	lo, hi     float64 // last pass, first fail; 0 when not yet seen
	hiStep     Step
	loStep     Step
	passes     []Step // every pass, to fall back on when a confirmation fails
	lastMoved  int    // -1 lo moved, +1 hi moved
	sameMoves  int
	confirming bool
}

// NewAuto returns an auto search with cfg's zero fields defaulted.
func NewAuto(cfg AutoConfig) *Auto {
	if cfg.Start <= 0 {
		cfg.Start = 100
	}
	if cfg.Max <= 0 {
		cfg.Max = 10000
	}
	if cfg.Growth <= 1 {
		cfg.Growth = 2
	}
	if cfg.Precision <= 0 {
		cfg.Precision = 0.02
	}
	if cfg.Hold <= 0 {
		cfg.Hold = 5 * time.Second
	}
	if cfg.ConfirmHold <= 0 {
		cfg.ConfirmHold = 2 * cfg.Hold
	}
	return &Auto{cfg: cfg}
}

func (a *Auto) at(rate float64, phase string) Decision {
	return Decision{Rate: rate, Hold: a.cfg.Hold, Phase: phase}
}

// Start returns the first rate.
func (a *Auto) Start() Decision { return a.at(math.Min(a.cfg.Start, a.cfg.Max), "grow") }

// Next narrows the search.
func (a *Auto) Next(last Step) (Decision, Status) {
	rate := last.Decision.Rate
	switch last.Verdict {
	case Pass:
		if a.confirming {
			return Decision{}, Converged
		}
		a.passes = append(a.passes, last)
		if rate > a.lo {
			a.lo, a.loStep = rate, last
			a.moved(-1)
		}
	case Fail:
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
			a.hi, a.hiStep = rate, last
			a.moved(+1)
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
		return a.at(math.Min(a.lo*a.cfg.Growth, a.cfg.Max), "grow"), Running
	case a.lo == 0:
		next := a.hi / a.cfg.Growth
		if next < a.cfg.Start/1024 {
			return Decision{}, NotFound
		}
		return a.at(next, "backoff"), Running
	case (a.hi-a.lo)/a.lo <= a.cfg.Precision:
		a.confirming = true
		d := a.at(a.lo, "confirm")
		d.Hold = a.cfg.ConfirmHold
		return d, Running
	}
	return a.at(a.guess(), "bisect"), Running
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
	g := mid
	lim := a.cfg.Limits
	w := a.hiStep.Window
	switch a.hiStep.Limit {
	case LimitFault:
		if w.Samples > 0 {
			g = w.Achieved * (1 - float64(w.Failures)/float64(w.Samples))
		}
	case LimitMaxRT:
		g = interpolateInverse(a.lo, a.loStep.Window.Latency, a.hi, w.Latency, lim.MaxRT)
	case LimitTTFT:
		g = interpolateInverse(a.lo, a.loStep.Window.TTFT, a.hi, w.TTFT, lim.MaxTTFT)
	case LimitTPOT:
		g = interpolateInverse(a.lo, a.loStep.Window.TPOT, a.hi, w.TPOT, lim.MaxTPOT)
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

// interpolateInverse finds where the latency reaches limit by linear
// interpolation of 1/latency against load between (lo, rLo) and (hi,
// rHi). It returns NaN when either point has no latency.
func interpolateInverse(lo float64, rLo time.Duration, hi float64, rHi, limit time.Duration) float64 {
	if rLo <= 0 || rHi <= 0 || limit <= 0 {
		return math.NaN()
	}
	gLo, gHi, gT := 1/rLo.Seconds(), 1/rHi.Seconds(), 1/limit.Seconds()
	if gLo == gHi {
		return math.NaN()
	}
	return lo + (gLo-gT)*(hi-lo)/(gLo-gHi)
}

var (
	_ Controller = (*Fixed)(nil)
	_ Controller = (*Scan)(nil)
	_ Controller = (*Auto)(nil)
)
