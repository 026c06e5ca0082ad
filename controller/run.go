package controller

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrDone is returned by a StepFunc when the load has ended normally (a
// request count was reached): Run judges the window it came with and
// stops with status Finished.
var ErrDone = errors.New("controller: load done")

// ErrSteered is returned by a StepFunc whose step was ended early because
// its load was changed from outside: Run judges what the step saw,
// without holding it longer or repeating it, and goes on with the
// controller's next decision.
var ErrSteered = errors.New("controller: load changed")

// A StepFunc applies a decision for its hold and returns what it saw.
type StepFunc func(ctx context.Context, d Decision) (Window, error)

// Step is one judged step.
type Step struct {
	Index    int
	Decision Decision
	Window   Window
	Verdict  Verdict
	Limit    Limit
	// Cut is set when the step was ended early by cancellation; such a
	// step never counts as a pass.
	Cut bool
	// Conclusive is set when the step's evidence decided its verdict at
	// the limits' confidence (Limits.Judge); otherwise it was judged on
	// what it measured. Higher marks a pass far inside every limit that
	// only says "higher": it never stands as the capacity.
	Conclusive, Higher bool
}

// A Controller decides the load of each step from the last judged one.
// Controllers are pure: no I/O, no clock, no goroutines.
type Controller interface {
	// Start returns the first decision.
	Start() Decision
	// Next returns the next decision after a judged step, and Running,
	// or the status the search ended with.
	Next(last Step) (Decision, Status)
}

// Status is how a search ended.
type Status int

const (
	// Running: the search goes on.
	Running Status = iota
	// Converged: the bracket around the limit is within the precision and
	// the answer was confirmed.
	Converged
	// ReachedMax: the load reached MaxQPS with every limit holding.
	ReachedMax
	// OutOfBudget: the run's duration was spent.
	OutOfBudget
	// Stopped: the run was cancelled.
	Stopped
	// GeneratorBound: the generator could not offer the load asked for.
	GeneratorBound
	// Finished: a fixed load ran to its request count, or a profile to
	// its end.
	Finished
	// NotFound: even the lightest load broke a limit.
	NotFound
)

func (s Status) String() string {
	switch s {
	case Running:
		return "running"
	case Converged:
		return "converged"
	case ReachedMax:
		return "reached max-qps"
	case OutOfBudget:
		return "duration spent"
	case Stopped:
		return "stopped"
	case GeneratorBound:
		return "generator-bound"
	case Finished:
		return "finished"
	case NotFound:
		return "no passing load"
	}
	return "unknown"
}

// ParseStatus returns the status whose String is s.
func ParseStatus(s string) (Status, bool) {
	for st := Running; st <= NotFound; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return Running, false
}

// Result is what a search found.
type Result struct {
	Steps []Step
	// Capacity is the highest load (Decision.Load) that passed a whole
	// step; High the lowest failing load above it (0 when none failed),
	// or for an overloaded failing step what it completed over KeepUp.
	Capacity, High float64
	// LimitedBy is the limit the step at High broke, or max_qps when the
	// search passed at the ceiling.
	LimitedBy Limit
	Status    Status
}

// maxExtend caps how long Run holds a short step: this many times its
// original hold.
const maxExtend = 4

// maxRetries is how many times in a row Run repeats a step the generator
// spoiled before the controller hears of it: one late stretch (a GC
// pause, a noisy neighbour) must not end a search, a generator that
// cannot offer the load must.
const maxRetries = 2

// Run drives c step by step through step until c is done, the budget of
// hold and drain time is spent, ctx ends or step returns ErrDone. A
// sequential step other than a confirmation is looked at every third of
// its hold (Decision.Look) and ends as soon as its evidence is conclusive
// either way, or, growing, as soon as it is far inside every limit. One
// whose evidence is still not conclusive at its hold is held longer
// (Decision.Extend), up to maxExtend times its hold, unless it is far
// inside every limit; every step is then judged by Limits.Conclude. A step
// the generator spoiled (Invalid) is repeated up to maxRetries times
// before the controller sees it — unless the step was Planned. A
// cancelled ctx is not an error: the result so far comes back with status
// Stopped. observe, when not nil, is called with every judged step as it
// is judged (for progress output).
func Run(ctx context.Context, c Controller, lim Limits, budget time.Duration, step StepFunc, observe func(Step)) (Result, error) {
	var res Result
	var used time.Duration
	retries := 0
	d := c.Start()
	for i := 1; ; i++ {
		if lim.MaxQPS > 0 {
			d.Rate = math.Min(d.Rate, lim.MaxQPS)
			d.RateEnd = math.Min(d.RateEnd, lim.MaxQPS)
		}
		if budget-used <= 0 {
			res.Status = OutOfBudget
			break
		}
		d.Hold = min(d.Hold, budget-used)
		first := d
		if d.Sequential && d.Phase != PhaseConfirm {
			// A step the search can end early is looked at every third of
			// its hold: it ends as soon as its evidence decides it.
			first.Look = d.Hold / 3
		}
		w, err := step(ctx, first)
		held := d.Hold
		if first.Look > 0 {
			held = first.Look
		}
		steered := errors.Is(err, ErrSteered)
		if steered {
			// Ended early: it took what it ran.
			held = w.Warmup + w.Duration
		}
		used += held + w.Drained
		drained := w.Drained
		v, _ := lim.Judge(w)
		extend := func(by time.Duration) {
			e := d
			e.Extend, e.Hold = true, by
			w, err = step(ctx, e)
			used += by
			held += by
			v, _ = lim.Judge(w)
		}
		settled := settledLatency(res.Steps, d.Load())
		for first.Look > 0 && err == nil && held < d.Hold && !decided(w, v, d, lim, settled) {
			extend(min(first.Look, d.Hold-held))
		}
		for v == Short && d.Sequential && err == nil && held < maxExtend*d.Hold && used < budget &&
			(d.Phase != PhaseGrow || !lim.FarInside(w)) {
			extend(min(extension(w, lim, d), maxExtend*d.Hold-held, budget-used))
		}
		// The drain came before the first part of the step.
		w.Drained = drained
		v, l, conclusive, higher := lim.Conclude(w, d)
		s := Step{Index: i, Decision: d, Window: w, Verdict: v, Limit: l, Conclusive: conclusive, Higher: higher}
		s.Decision.Hold = held
		if err != nil && !errors.Is(err, ErrDone) && ctx.Err() != nil {
			s.Cut = true
		}
		if observe != nil && (err == nil || steered || s.Cut || errors.Is(err, ErrDone)) {
			observe(s)
		}
		switch {
		case err == nil, steered:
		case errors.Is(err, ErrDone):
			res.Steps = append(res.Steps, s)
			res.Status = Finished
			return res.Settle(lim), nil
		case s.Cut:
			res.Steps = append(res.Steps, s)
			res.Status = Stopped
			return res.Settle(lim), nil
		default:
			return res.Settle(lim), fmt.Errorf("controller: step %d: %w", i, err)
		}
		res.Steps = append(res.Steps, s)
		if v == Invalid && retries < maxRetries && !d.Planned && !steered {
			retries++
			continue
		}
		retries = 0
		next, st := c.Next(s)
		if st != Running {
			res.Status = st
			break
		}
		d = next
	}
	return res.Settle(lim), nil
}

// decided reports whether a step looked at before its hold may end
// there: its evidence decided its verdict, or, growing, it is far inside
// every limit — once its judged part spans twice the latency of its
// unqueued answers (settled is the passes' below), and, for a pass, nine
// in ten of its judged requests were answered. A failing step that
// completed less than it was offered runs its whole hold.
func decided(w Window, v Verdict, d Decision, lim Limits, settled time.Duration) bool {
	switch {
	case w.Duration < 2*unqueued(w, settled):
		return false
	case v == Fail && w.Offered > 0 && w.Achieved < KeepUp*w.Offered:
		// What a target that fell behind completed bounds its limit
		// (overloaded) only once measured over the whole hold: early on
		// its answers still lag the step's start.
		return false
	case v == Fail || v == Invalid:
		return true
	case 10*w.Pending > w.Samples:
		// A pass rests on answers: most must have come.
		return false
	}
	return v == Pass || d.Phase == PhaseGrow && lim.FarInside(w)
}

// extension is how much longer to hold a step to reach the samples that
// would prove its limits if no more requests broke them than so far, at
// the rate samples came: at least a quarter of its hold. A growing step
// far inside its limits but for its count waits only for the MinHigher
// requests that say "higher".
func extension(w Window, lim Limits, d Decision) time.Duration {
	if w.Samples <= 0 || w.Duration <= 0 {
		return d.Hold
	}
	need := lim.samplesToProve(w)
	if d.Phase == PhaseGrow && lim.farInside(w, 0) {
		need = MinHigher
	}
	perSec := float64(w.Samples) / w.Duration.Seconds()
	missing := float64(need-w.Samples) * 1.1 // a little over, to be done in one go
	ext := time.Duration(missing / perSec * float64(time.Second))
	return max(ext, d.Hold/4)
}

// Settle fills Capacity, High and LimitedBy from the judged steps: the
// run does it as it ends, and an offline analysis that re-judged recorded
// steps with other limits does the same.
func (r Result) Settle(lim Limits) Result {
	r.Capacity, r.High, r.LimitedBy = 0, 0, LimitNone
	// The capacity is the highest passing load under every failing one: a
	// load that passed once and failed later (a failed confirmation) did
	// not hold.
	lowestFail := math.Inf(1)
	for _, s := range r.Steps {
		if s.Verdict == Fail {
			lowestFail = math.Min(lowestFail, s.Decision.Load())
		}
	}
	for _, s := range r.Steps {
		if s.Verdict == Pass && !s.Cut && !s.Higher && s.Decision.Load() < lowestFail {
			r.Capacity = math.Max(r.Capacity, s.Decision.Load())
		}
	}
	for i, s := range r.Steps {
		if s.Verdict != Fail || s.Decision.Load() <= r.Capacity {
			continue
		}
		// An overloaded step bounds the limit by what it completed, within
		// the tolerance that called it overloaded, not by what it was
		// offered; it is told by the passes before it, as the search told
		// it.
		bound := s.Decision.Load()
		if s.Decision.Rate > 0 && overloaded(s.Window, settledLatency(r.Steps[:i], s.Decision.Load())) {
			bound = min(bound, max(goodput(s.Window)/KeepUp, r.Capacity))
		}
		if r.High == 0 || bound < r.High {
			r.High, r.LimitedBy = bound, s.Limit
		}
	}
	if r.High == 0 && lim.MaxQPS > 0 && r.Capacity >= lim.MaxQPS {
		r.LimitedBy = LimitMaxQPS
	}
	if r.High == 0 && r.Status == GeneratorBound {
		r.LimitedBy = LimitGenerator
	}
	return r
}
