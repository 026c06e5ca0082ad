package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe"
	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

// Spec is what a run is made from: the typed, resolved configuration that
// run.json records.
type Spec = rundir.Spec

// InputError is an error of New that lies in the caller's input: a spec
// that does not check, a payload that cannot be read, a run directory
// that cannot be made.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Options are what a run needs beyond its spec.
type Options struct {
	// Version is recorded in run.json and every part.
	Version string
	// Abort, when closed, cuts short the work a stopped run still does:
	// the summary is then written from the engine's counts, without
	// reading the run back (a second Ctrl-C).
	Abort <-chan struct{}
	// Fleet, when set, has agents send the load (see RunAgent).
	Fleet *Fleet
}

// engine is what sends a run's load: a probe.Engine on this machine, or a
// coordinator whose agents do.
type engine interface {
	Step(context.Context, probe.Load) (*rundir.StepStats, error)
	Pause(context.Context, time.Duration) time.Duration
	Stop() (probe.Totals, error)
}

// Runner runs one spec: the closed loop of controller and engine, every
// request recorded, the answer written to summary.json. New prepares it,
// Run runs it once; SetLoad and Stop steer it while it runs, from any
// goroutine.
type Runner struct {
	spec    Spec
	opt     Options
	dir     string
	client  probe.Client
	source  datasets.Source
	dataset *datasets.Report
	sched   probe.Schedule
	// tokenizer counts prompts offline (--tokenizer); nil asks the server.
	tokenizer *fileTokenizer

	mu       sync.Mutex
	ran      bool
	override *Load              // the load SetLoad asked for
	cutStep  func()             // ends the step running, for SetLoad
	stop     context.CancelFunc // ends the run, for Stop
	// running is the step under way, for the seconds watched live.
	running controller.Decision
	step    int
}

// New checks s and prepares its run: the client, the payloads, the
// arrival schedule and the run directory (s.Out, or a new one under
// runs/). Its errors are *InputError.
func New(s Spec, opt Options) (*Runner, error) {
	if err := s.Check(); err != nil {
		return nil, &InputError{err}
	}
	if f := opt.Fleet; f != nil {
		if err := CheckFleet(s, f.Agents); err != nil {
			return nil, &InputError{err}
		}
	}
	r := &Runner{spec: s, opt: opt}
	var err error
	if r.client, err = newClient(s); err != nil {
		return nil, &InputError{err}
	}
	if r.sched, err = probe.NewSchedule(string(s.Arrival), s.Burstiness, s.Seed); err != nil {
		return nil, &InputError{err}
	}
	if r.source, r.dataset, err = newSource(s); err != nil {
		return nil, &InputError{err}
	}
	if s.Tokenizer != "" {
		if r.tokenizer, err = loadTokenizer(s.Tokenizer); err != nil {
			return nil, &InputError{err}
		}
	}
	if r.dir, err = makeRunDir(s.Out); err != nil {
		return nil, &InputError{err}
	}
	return r, nil
}

// CheckFleet refuses a spec that agents could not share: a bound in
// requests, or fewer closed-loop workers than agents.
func CheckFleet(s Spec, agents int) error {
	switch {
	case agents < 1:
		return errors.New("runner: --agents must be at least 1")
	case s.Requests > 0:
		return errors.New("runner: --requests is not shared among agents; bound the run by --duration")
	case s.Mode.ClosedLoop() && s.Concurrency < agents:
		return fmt.Errorf("runner: a concurrency of %d cannot be shared among %d agents", s.Concurrency, agents)
	}
	return nil
}

// Dir is the run directory.
func (r *Runner) Dir() string { return r.dir }

// Spec is the spec the run was made from, checked.
func (r *Runner) Spec() Spec { return r.spec }

// Load is a fixed load: a rate (rate mode, with an optional in-flight
// bound) or a number of workers (manual, concurrency and throughput).
type Load struct {
	Rate        float64
	Concurrency int
	// By says who asked ("page" or "command"), for the step's record.
	By string
}

// SetLoad changes the load of a running fixed-load run: the step running
// ends at once, is judged on what it saw, and every later step holds l.
func (r *Runner) SetLoad(l Load) error {
	m := r.spec.Mode
	switch {
	case !m.Steerable():
		return fmt.Errorf("runner: --mode %s sets its own load; only manual, rate, concurrency and throughput runs take a new one", m)
	case m == rundir.ModeRate && !(l.Rate > 0):
		return errors.New("runner: a rate run needs a positive rate")
	case m == rundir.ModeRate && l.Concurrency < 0:
		return errors.New("runner: the in-flight bound must not be negative")
	case m.ClosedLoop() && (l.Concurrency <= 0 || l.Rate != 0):
		return fmt.Errorf("runner: a %s run takes a concurrency, not a rate", m)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.override = &l
	if r.cutStep != nil {
		r.cutStep()
	}
	return nil
}

// Stop ends the run as an interrupt would: the step running is cut short
// and does not count, what was recorded is written with its summary.
func (r *Runner) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stop != nil {
		r.stop()
	}
}

// steer applies the load SetLoad asked for to a decision.
func (r *Runner) steer(d controller.Decision) controller.Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.override; l != nil {
		d.AskedBy = l.By
		if r.spec.Mode == rundir.ModeRate {
			d.Rate = l.Rate
			if l.Concurrency > 0 {
				d.Concurrency = l.Concurrency
			}
		} else {
			d.Concurrency = l.Concurrency
		}
	}
	return d
}

// steered is the run's controller with the loads SetLoad asked for.
type steered struct {
	c controller.Controller
	r *Runner
}

func (s steered) Start() controller.Decision { return s.r.steer(s.c.Start()) }

func (s steered) Next(last controller.Step) (controller.Decision, controller.Status) {
	d, st := s.c.Next(last)
	return s.r.steer(d), st
}

// Result is how a run ended.
type Result struct {
	Dir     string
	Status  controller.Status
	Summary rundir.Summary
	// Analysis is the run explained, for drawing its report; nil when
	// nothing was sent.
	Analysis *analysis.Analysis
	// Stopped is set when the run was cut short, by its context or Stop:
	// only summary.json was written.
	Stopped bool
}

// Run runs the load and writes the run directory, sending what happens
// on the returned channel, which closes after a Done event. The caller
// must drain it. ctx ends the run early, as Stop does. Run runs once.
func (r *Runner) Run(ctx context.Context) <-chan Event {
	events := make(chan Event, 16)
	go func() {
		defer close(events)
		res, err := r.run(ctx, events)
		events <- Done{Result: res, Err: err}
	}()
	return events
}

func (r *Runner) run(parent context.Context, events chan<- Event) (Result, error) {
	s := r.spec
	res := Result{Dir: r.dir}
	r.mu.Lock()
	if r.ran {
		r.mu.Unlock()
		return res, errors.New("runner: a runner runs once")
	}
	r.ran = true
	ctx, stop := context.WithCancel(parent)
	defer stop()
	r.stop = stop
	r.mu.Unlock()

	started := Started{Dir: r.dir, Spec: s}
	if r.dataset != nil {
		started.Dataset = r.dataset.String()
	}
	events <- started
	clock := probe.NewClock()
	meta := partMeta(s, r.opt.Version, clock)
	info := rundir.RunInfo{Version: r.opt.Version, Start: clock.Zero().UTC(), Spec: s.Redacted(), Env: rundir.ThisMachine()}
	if err := rundir.WriteJSON(filepath.Join(r.dir, rundir.RunJSON), info); err != nil {
		return res, err
	}
	rec, err := store.NewRecorder(r.dir, store.RecorderOptions{Metadata: meta})
	if err != nil {
		return res, err
	}
	var rows []rundir.StepRow
	if src, ok := r.source.(datasets.Sized); ok && s.API.LLM() {
		// Prompts are sized in the server's tokens before the load, and
		// not changed after: the run is made again from its seed and this.
		cal, row, err := r.calibrate(ctx, src, rec, clock)
		if err != nil && !errors.Is(err, context.Canceled) {
			rec.Close()
			return res, err
		}
		info.Calibration = &cal
		if err := rundir.WriteJSON(filepath.Join(r.dir, rundir.RunJSON), info); err != nil {
			rec.Close()
			return res, err
		}
		if row.Sent > 0 {
			rows = append(rows, row)
		}
		events <- Calibrated{Calibration: cal}
		if cal.Method == "none" && s.Calibrate != rundir.CalibrateOff {
			events <- Warning{Message: "prompt lengths are not calibrated (" + cal.Why + "): a word is taken for a token"}
		}
	}
	lim := analysis.LimitsOf(s)
	onSecond, stopLive := r.live(events)
	eng, err := r.engine(ctx, clock, &info, events, probe.EngineConfig{
		OnSecond:    onSecond,
		Client:      r.client,
		Source:      r.source,
		Schedule:    r.sched,
		Writer:      rec,
		Clock:       clock,
		MaxInFlight: s.Concurrency,
		Requests:    s.Requests,
		Judging:     analysis.Judging(lim, s.Streams()),
		// A run by request count waits for its last answers; each comes
		// or times out within the timeout.
		Drain: s.Timeout + time.Second,
	})
	if err != nil {
		stopLive()
		rec.Close()
		return res, err
	}
	stopScrape := r.scrapeServer(clock, events)

	var (
		// cur is the running step's latest window, n its number; a judged
		// step is kept only as its steps.parquet row, so memory does not
		// grow with the steps' histograms.
		cur        *rundir.StepStats
		n          int
		lastFailed bool
		// The run's load, drains included, ends by its duration.
		deadline = time.Now().Add(s.Duration)
	)
	cres, runErr := controller.Run(ctx, steered{newController(s), r}, lim, s.Duration,
		func(ctx context.Context, d controller.Decision) (controller.Window, error) {
			var drained time.Duration
			if lastFailed && !d.Extend {
				// Let the backlog of an overloaded step drain, so the next
				// step does not inherit its latency.
				drained = eng.Pause(ctx, max(0, min(s.Timeout, time.Until(deadline))))
				events <- Drained{Waited: drained}
			}
			if !d.Extend {
				events <- StepStarted{Step: n + 1, Decision: d}
				r.mu.Lock()
				r.running, r.step = d, n+1
				r.mu.Unlock()
			}
			stepCtx, cut := context.WithCancel(ctx)
			r.mu.Lock()
			r.cutStep = cut
			r.mu.Unlock()
			w, err := eng.Step(stepCtx, loadOf(s, d))
			r.mu.Lock()
			r.cutStep = nil
			r.mu.Unlock()
			steered := stepCtx.Err() != nil && ctx.Err() == nil
			cut()
			if w == nil {
				return controller.Window{}, err
			}
			w.Phase, w.AskedBy = d.Phase, d.AskedBy
			if !d.Extend || cur == nil {
				n++
			}
			cur = w
			events <- Window{Step: n, Stats: w}
			switch {
			case errors.Is(err, probe.ErrExhausted):
				err = controller.ErrDone
			case steered:
				err = controller.ErrSteered
			case err != nil && ctx.Err() != nil:
				err = ctx.Err()
			}
			cw := analysis.Window(w, lim)
			cw.Drained = drained
			return cw, err
		},
		func(st controller.Step) {
			// A failed step leaves a backlog; so did the one before a step
			// that carried it.
			lastFailed = st.Verdict == controller.Fail || st.Limit == controller.LimitBacklog
			rows = append(rows, cur.Row(st.Verdict.String(), string(st.Limit), st.Conclusive))
			events <- Judged{Step: st, Stats: cur}
			if st.Verdict == controller.Invalid {
				events <- Warning{Message: fmt.Sprintf("step %d: the generator was the limit (it fell behind its schedule or ran out of descriptors or ports); the step says nothing of the target", st.Index)}
			}
		})
	tot, stopErr := eng.Stop()
	stopLive()
	stopScrape()
	closeErr := rec.Close()
	res.Status, res.Stopped = cres.Status, ctx.Err() != nil
	// A run that failed still explains what it recorded before it says so.
	var failed error
	switch {
	case errors.Is(runErr, probe.ErrRecording) || stopErr != nil || closeErr != nil:
		// The records stopped being kept, and so did the load.
		failed = fmt.Errorf("runner: recording %s: %w", r.dir, errors.Join(stopErr, closeErr))
	case runErr != nil && !errors.Is(runErr, context.Canceled):
		failed = runErr
	}
	if failed != nil {
		res.Status, cres.Status = controller.Stopped, controller.Stopped
	}
	res, err = r.conclude(res, cres.Status, rows, tot, events)
	return res, errors.Join(failed, err)
}

// partMeta is the key/value metadata of every part of a run.
func partMeta(s Spec, version string, clock probe.Clock) map[string]string {
	return map[string]string{
		rundir.MetaVersion: version,
		rundir.MetaSchema:  rundir.RecordSchema,
		rundir.MetaStart:   clock.Zero().UTC().Format(time.RFC3339Nano),
		rundir.MetaURL:     rundir.RedactURL(s.URL),
		rundir.MetaMode:    string(s.Mode),
		rundir.MetaAPI:     string(s.API),
		rundir.MetaStreams: fmt.Sprint(s.Streams()),
	}
}

// engine starts what sends the load: an engine of cfg, or with a fleet a
// coordinator of agents, once they have all joined (recorded in info).
func (r *Runner) engine(ctx context.Context, clock probe.Clock, info *rundir.RunInfo, events chan<- Event, cfg probe.EngineConfig) (engine, error) {
	f := r.opt.Fleet
	if f == nil {
		eng, err := probe.NewEngine(cfg)
		if err == nil {
			eng.Start()
		}
		return eng, err
	}
	info.Fleet = &rundir.Fleet{RunID: filepath.Base(r.dir), Agents: f.Agents}
	if err := rundir.WriteJSON(filepath.Join(r.dir, rundir.RunJSON), info); err != nil {
		return nil, err
	}
	var scale *datasets.Scale
	if c := info.Calibration; c != nil && c.Method != "none" {
		scale = &datasets.Scale{Overhead: c.Overhead, PerPiece: c.PerPiece}
	}
	return r.coordinate(ctx, clock, info.Fleet.RunID, scale, cfg.Judging, cfg.OnSecond, events)
}

// live returns the engine's callback for each second of the run, which
// passes it on as a Tick with the step running, and the function that
// stops it before the run's last event. A second the watcher is too slow
// for is dropped: the engine never waits.
func (r *Runner) live(events chan<- Event) (onSecond func(rundir.Second), stop func()) {
	seconds := make(chan rundir.Second, 16)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case s := <-seconds:
				select {
				case events <- Tick{Second: s}:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	onSecond = func(s rundir.Second) {
		r.mu.Lock()
		s.Step, s.Phase, s.OfferedQPS = r.step, r.running.Phase, r.running.Load()
		r.mu.Unlock()
		select {
		case seconds <- s:
		default:
		}
	}
	var once sync.Once
	return onSecond, func() { once.Do(func() { close(done); <-finished }) }
}

// conclude writes steps.parquet and the summary of what was recorded.
func (r *Runner) conclude(res Result, status controller.Status, rows []rundir.StepRow, tot probe.Totals, events chan<- Event) (Result, error) {
	s := r.spec
	if err := store.WriteParquet(filepath.Join(r.dir, rundir.StepsFile), rows, nil); err != nil {
		return res, err
	}
	sumPath := filepath.Join(r.dir, rundir.SummaryJSON)
	// countsOnly is the summary of a run not read back: the engine's
	// counts and why.
	countsOnly := func(why string) (Result, error) {
		res.Summary = rundir.Summary{
			Mode: string(s.Mode), Status: status.String(), Steps: []rundir.SummaryStep{}, Warnings: []string{why},
			Requests: rundir.Requests{Sent: tot.Sent, Recorded: tot.Recorded, OK: tot.OK, Failed: tot.Failed, Canceled: tot.Canceled},
		}
		return res, rundir.WriteJSON(sumPath, res.Summary)
	}
	if tot.Sent == 0 {
		// Nothing was recorded (stopped before the first send).
		return countsOnly("no request was sent")
	}
	if f := r.opt.Fleet; f != nil {
		missing, err := store.MissingAgents(r.dir, f.Agents)
		if err != nil {
			return res, err
		}
		if len(missing) > 0 {
			return countsOnly(fmt.Sprintf("the records of agents %v are not in %s: they wrote into their own directories; capfinder merge %s AGENT_DIR... gathers them and explains the run", missing, r.dir, r.dir))
		}
	}
	// The answer comes from what was recorded, by the same code as
	// `capfinder analyze`.
	src, err := store.Open(r.dir)
	if err != nil {
		return res, err
	}
	a, err := analysis.Explain(abortable{src, r.opt.Abort}, s, -1, status)
	if errors.Is(err, errAborted) {
		return countsOnly("interrupted again before the run was read back; capfinder analyze " + r.dir + " explains it")
	}
	if err != nil {
		return res, err
	}
	res.Analysis, res.Summary = a, a.Summary
	for _, w := range a.Summary.Warnings {
		events <- Warning{Message: w}
	}
	return res, rundir.WriteJSON(sumPath, a.Summary)
}

// abortable is a recorded run whose reading stops when abort closes.
type abortable struct {
	rundir.Source
	abort <-chan struct{}
}

var errAborted = errors.New("runner: aborted")

func (a abortable) Records(fn func([]rundir.Record) error) error {
	return a.Source.Records(func(b []rundir.Record) error {
		select {
		case <-a.abort:
			return errAborted
		default:
			return fn(b)
		}
	})
}

// newController returns the controller of the run's mode.
func newController(s Spec) controller.Controller {
	switch s.Mode {
	case rundir.ModeAuto:
		return controller.NewAuto(controller.AutoConfig{
			Start: s.MinQPS, Max: s.MaxQPS, Precision: s.Precision,
			Hold: s.StepDuration, Limits: analysis.LimitsOf(s), Track: s.Hold,
		})
	case rundir.ModeScan:
		return controller.NewScan(controller.ScanConfig{
			Min: s.MinQPS, Max: s.MaxQPS, Delta: s.QPSGrowthDelta,
			Interval: s.AdjustInterval, Action: controller.FaultAction(s.FaultAction),
			Limits: analysis.LimitsOf(s),
		})
	case rundir.ModeRate:
		return &controller.Fixed{D: controller.Decision{Rate: s.Rate, Concurrency: s.Concurrency, Hold: s.StepDuration}}
	case rundir.ModeProfile:
		return &controller.Profile{Steps: plan(s.Stages, s.StepDuration)}
	}
	// concurrency, manual and throughput: a closed loop of workers.
	return &controller.Fixed{D: controller.Decision{Concurrency: s.Concurrency, Hold: s.StepDuration}}
}

// loadOf turns a controller decision into an engine step.
func loadOf(s Spec, d controller.Decision) probe.Load {
	l := probe.Load{
		Rate:        d.Rate,
		RateEnd:     d.RateEnd,
		Concurrency: d.Concurrency,
		Hold:        d.Hold,
		Extend:      d.Extend,
		Warmup:      min(s.Warmup, d.Hold/5),
	}
	if d.Look > 0 {
		// Returns after Look with what the step saw so far.
		l.Hold = d.Look
	}
	if (l.Rate > 0 || l.RateEnd > 0) && l.Concurrency == 0 {
		l.Concurrency = s.Concurrency
	}
	// Requests scheduled in the tail are not judged, so a judged request
	// still in flight at the cut is at least as old as the latency limits.
	l.Tail = min(max(s.MaxRT, s.MaxTTFT), l.Hold/4)
	return l
}
