package probe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe/rundir"
)

// ErrExhausted is returned by Engine.Step once the engine has sent every
// request it was allowed to (EngineConfig.Requests) or the payload source
// ran dry. The window returned with it is still valid.
var ErrExhausted = errors.New("probe: requests exhausted")

// ErrRecording is returned by Engine.Step once the writer failed: the
// records are no longer kept, so the load must stop.
var ErrRecording = errors.New("probe: recording failed")

// RecordWriter receives every record, in batches, from one goroutine.
// A store.Recorder is one.
type RecordWriter interface {
	Write(recs []rundir.Record) error
}

// EngineConfig configures an Engine. Zero fields mean the defaults given.
type EngineConfig struct {
	Client Client
	Source datasets.Source
	// Schedule spaces open-loop sends; default constant gaps.
	Schedule Schedule
	// Writer receives every record; nil discards them (windows still work).
	Writer RecordWriter
	Clock  Clock
	// MaxInFlight bounds requests in flight in open-loop steps whose Load
	// names no bound; default 4096.
	MaxInFlight int
	// Requests stops the engine after that many sends; 0 is no bound.
	Requests int64
	// Agent is recorded in every record (which generator sent it).
	Agent int32
	// Shard, when Of > 1, makes this engine one of Of generators sharing
	// one schedule: each draws every arrival (its time, number and
	// payload) and sends those whose number is Index modulo Of, so that
	// together they send what one engine would.
	Shard Shard
	// Judging says how steps are judged: whether requests stream (a
	// judged request still without a first token at a step's cut then
	// counts with its age as its time to first token, a lower bound) and
	// the limits that make a request good.
	Judging rundir.Judging
	// StopGrace is how long Stop lets in-flight requests finish before
	// cancelling them; default 500 ms, so that Ctrl-C ends a run well
	// within 2 s.
	StopGrace time.Duration
	// Drain is how long the step during which the engine ran out of
	// requests (Requests, or the source) waits for the answers still in
	// flight, beyond its hold: it should cover the client's timeout. Zero
	// ends the step at once.
	Drain time.Duration
	// OnSecond, when set, receives each second of the run as it ends,
	// from the collector: it must not block (drop a second rather).
	// SecondHists hands each second over with its histograms.
	OnSecond    func(rundir.Second)
	SecondHists bool
}

// Shard is a generator's share of a schedule: Index of Of.
type Shard struct{ Index, Of int }

// Load is what one step offers.
type Load struct {
	// At, when positive, is when the step begins on the engine's clock:
	// Step waits for it, and generators sharing a schedule begin their
	// steps at the same instant. Zero begins at once.
	At int64
	// Rate is requests per second on the open-loop schedule. Zero means
	// closed loop: Concurrency workers send back to back. +Inf schedules
	// every request at the step's start, bounded by Concurrency.
	Rate float64
	// RateEnd, when positive, makes the step a linear ramp: the open-loop
	// rate goes from Rate at the step's start (which may then be 0) to
	// RateEnd at Hold.
	RateEnd float64
	// Concurrency bounds requests in flight (open loop, 0 means
	// EngineConfig.MaxInFlight) or is the number of closed-loop workers.
	Concurrency int
	// Hold is how long the step lasts.
	Hold time.Duration
	// Warmup excludes requests scheduled in the step's first Warmup from
	// judgement; Tail those scheduled in its last Tail, so that a judged
	// request still in flight at the cut is known to be at least Tail old.
	Warmup, Tail time.Duration
	// Extend continues the previous step (same index, same load) for Hold
	// more; the window then covers the whole step. Rate and Concurrency are
	// ignored.
	Extend bool
}

// Engine sends requests step by step and summarises each step. Step is
// called from one goroutine at a time; the engine owns the goroutines it
// starts and Stop ends them all.
//
// Inside, one scheduler goroutine paces sends against absolute scheduled
// times and hands each to an idle worker (the pool grows up to the
// in-flight bound); workers pass every finished record to one collector
// goroutine, which owns the per-step histograms — so nothing on the
// per-request path takes a shared lock or touches a shared histogram —
// and forwards batches to the writer.
type Engine struct {
	cfg   EngineConfig
	clock Clock

	loads   chan stepLoad      // Step → scheduler
	jobs    chan job           // scheduler → idle workers
	records chan rundir.Record // workers → collector
	ctl     chan ctl           // Step → collector
	judging rundir.Judging

	// cutMu orders request ends against a step's cut: a worker hands its
	// record over under the read lock, and a request on its way to a
	// worker holds it too, until the worker put it in its slot; the cut takes its time, the
	// requests in flight and the count handed over, and has the collector
	// summarise the step, under the write lock. A request ends by the cut
	// exactly when its record was handed over before it, which is the rule
	// analysis applies to the records.
	cutMu  sync.RWMutex
	cutAt  int64        // the last cut's time
	handed atomic.Int64 // records handed over to the collector
	// handing counts the workers waiting to hand a record over: their
	// slots are held by the generator's own backpressure.
	handing atomic.Int64

	released  chan struct{} // a worker freed a slot (capacity 1, never blocks)
	followUps followUps
	inflight  atomic.Int64
	sent      atomic.Int64
	// turns counts the sends that were conversations' later turns.
	turns atomic.Int64
	// due is the scheduled time of the next open-loop send, or noDue.
	due atomic.Int64
	// waited is how long, since the step began, the scheduler waited for
	// a slot the target held (in nanoseconds).
	waited atomic.Int64

	slotsMu sync.Mutex
	slots   []*slot // each worker's request in flight

	exhausted chan struct{} // closed when the scheduler stops by itself
	// writeFailed is closed when the writer first fails; writeErr, set
	// before, says why.
	writeFailed chan struct{}
	reqCtx      context.Context
	cancelReq   context.CancelFunc
	stopSched   context.CancelFunc

	schedDone chan struct{}
	workers   sync.WaitGroup
	collDone  chan struct{}
	// Written by the collector only; read after collDone is closed.
	writeErr error
	totals   Totals

	// Step's own state; Step is called from one goroutine at a time.
	step      int
	stepStart int64
	stepSent  int64
	stepTurns int64
	stepLoad  stepLoad
	stepLimit int
	stepCPU   time.Duration
	// inFlightJudged is the requests in flight as the step's judged part
	// began; -1 until then.
	inFlightJudged int64
	stopped        bool
}

type stepLoad struct {
	step int32
	// hold ends the step's sends at its cut: nothing is sent until the
	// next step, or the same step again when it is held longer.
	hold        bool
	rate        float64
	concurrency int
	start       int64
	// A ramp's rate at Hold and its slope, in requests/s².
	rateEnd, slope float64
}

type job struct {
	step      int32
	offered   float64
	scheduled int64
	seq       int64
	payload   datasets.Payload
}

// NewEngine checks the configuration and returns an engine ready to Start.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Client == nil {
		return nil, errors.New("probe: engine needs a client")
	}
	if cfg.Source == nil {
		return nil, errors.New("probe: engine needs a payload source")
	}
	if cfg.Schedule == nil {
		s, err := NewSchedule("constant", 1, 0)
		if err != nil {
			return nil, err
		}
		cfg.Schedule = s
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 4096
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 500 * time.Millisecond
	}
	if cfg.Clock == (Clock{}) {
		cfg.Clock = NewClock()
	}
	e := &Engine{
		cfg:         cfg,
		clock:       cfg.Clock,
		loads:       make(chan stepLoad),
		jobs:        make(chan job),
		records:     make(chan rundir.Record, 16384),
		ctl:         make(chan ctl),
		released:    make(chan struct{}, 1),
		followUps:   followUps{wake: make(chan struct{}, 1)},
		exhausted:   make(chan struct{}),
		writeFailed: make(chan struct{}),
		schedDone:   make(chan struct{}),
		collDone:    make(chan struct{}),
		judging:     cfg.Judging,
	}
	e.judging.KeepTail = true
	e.due.Store(noDue)
	return e, nil
}

// Start opens the client's first connections where it can (Warm), and
// launches the scheduler and the collector. Nothing is sent until the
// first Step.
func (e *Engine) Start() {
	if c, ok := e.cfg.Client.(interface{ Warm(int) }); ok {
		c.Warm(min(e.cfg.MaxInFlight, warmConns))
	}
	e.reqCtx, e.cancelReq = context.WithCancel(context.Background())
	var schedCtx context.Context
	schedCtx, e.stopSched = context.WithCancel(context.Background())
	go e.collect()
	go e.schedule(schedCtx)
}

// Step offers l for l.Hold and returns the step's statistics. It returns
// early with ctx's error when ctx ends, and with ErrExhausted (and the
// statistics so far) when the engine has sent all it may.
func (e *Engine) Step(ctx context.Context, l Load) (*rundir.StepStats, error) {
	if e.stopped {
		return nil, errors.New("probe: step after stop")
	}
	if wait := time.Duration(l.At - e.clock.Now()); l.At > 0 && wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	// begin is when the step begins: At, exactly, when it was given.
	begin := func() int64 {
		if l.At > 0 {
			return l.At
		}
		return e.clock.Now()
	}
	now := begin()
	if l.Extend && e.step > 0 {
		e.ctl <- ctl{kind: ctlExtend, judgedEnd: planEnd(now, l.Hold, l.Tail)}
		e.setLoad(e.stepLoad)
	} else {
		if math.IsNaN(l.Rate) || l.Rate < 0 || math.IsNaN(l.RateEnd) || l.RateEnd < 0 || math.IsInf(l.RateEnd, 1) {
			return nil, fmt.Errorf("probe: invalid rate %v to %v", l.Rate, l.RateEnd)
		}
		if l.RateEnd > 0 && (math.IsInf(l.Rate, 1) || l.Hold <= 0) {
			return nil, errors.New("probe: a ramp needs a finite start rate and a hold")
		}
		sl := stepLoad{rate: l.Rate, rateEnd: l.RateEnd}
		if l.RateEnd > 0 {
			sl.slope = (l.RateEnd - l.Rate) / l.Hold.Seconds()
		}
		if offered(sl) == 0 && l.Concurrency <= 0 {
			return nil, errors.New("probe: closed-loop step needs a concurrency")
		}
		limit := l.Concurrency
		if limit <= 0 {
			limit = e.cfg.MaxInFlight
		}
		e.step++
		e.stepSent, e.stepTurns = e.sent.Load(), e.turns.Load()
		e.stepLimit = limit
		e.waited.Store(0)
		// The step begins between two hand-overs, as it is cut: a request
		// ends in it exactly when its record is handed over after that.
		e.cutMu.Lock()
		now = begin()
		e.ctl <- ctl{kind: ctlBegin, step: int32(e.step), bounds: rundir.Bounds{
			Start: now, End: rundir.Open, JudgedStart: now + int64(l.Warmup), JudgedEnd: planEnd(now, l.Hold, l.Tail),
		}}
		e.cutMu.Unlock()
		e.stepStart, e.stepCPU = now, processCPU()
		sl.step, sl.concurrency, sl.start = int32(e.step), limit, now
		e.stepLoad = sl
		e.setLoad(sl)
	}
	var err error
	t := time.NewTimer(time.Duration(now + int64(l.Hold) - e.clock.Now()))
	// The requests in flight as the judged part begins, against those at
	// the cut, tell whether the target kept up (Window.InFlightStart).
	var warm <-chan time.Time
	if !l.Extend {
		e.inFlightJudged = -1
		wt := time.NewTimer(l.Warmup)
		defer wt.Stop()
		warm = wt.C
	}
wait:
	for {
		select {
		case <-warm:
			e.inFlightJudged, warm = e.inflight.Load(), nil
		case <-t.C:
			break wait
		case <-ctx.Done():
			t.Stop()
			err = ctx.Err()
			break wait
		case <-e.writeFailed:
			t.Stop()
			err = fmt.Errorf("%w: %w", ErrRecording, e.writeErr)
			break wait
		case <-e.exhausted:
			t.Stop()
			err = ErrExhausted
			if e.cfg.Drain > 0 {
				// Everything is sent: wait for the last answers, so that a
				// run of N requests records N answers.
				d := time.NewTimer(e.cfg.Drain)
				e.awaitIdle(ctx, d.C)
				d.Stop()
				if ctx.Err() != nil {
					err = ctx.Err()
				}
			}
			break wait
		}
	}
	// The step's sends end at its cut, so that it sent what it counts.
	e.setLoad(stepLoad{step: int32(e.step), hold: true})
	inFlight := e.inflight.Load()
	if e.inFlightJudged < 0 {
		// Cut within its warm-up: nothing judged, nothing grew.
		e.inFlightJudged = inFlight
	}
	// No request is handed over while the collector summarises the cut,
	// so that it sees exactly the records handed over before it.
	m := ctl{kind: ctlCut, reply: make(chan *rundir.StepStats, 1)}
	e.cutMu.Lock()
	m.at = e.clock.Now()
	e.cutAt, m.handed = m.at, e.handed.Load()
	m.pending = e.inFlightSince(e.stepStart)
	m.judgedEnd = m.at - int64(l.Tail)
	if err != nil {
		// A step cut short has no tail to wait for: judge all it sent.
		m.judgedEnd = m.at
	}
	at := m.at
	e.ctl <- m
	w := <-m.reply
	e.cutMu.Unlock()
	// What the step sent, as the records will say once all are in.
	w.Sent, w.Turns = e.sent.Load()-e.stepSent, e.turns.Load()-e.stepTurns
	w.Offered, w.Concurrency = offeredRate(e.stepLoad), e.stepLimit
	if l := e.stepLoad; l.slope != 0 {
		// A ramp cut short offered the mean of the part it ran.
		ran := min(time.Duration(at-e.stepStart).Seconds(), (l.rateEnd-l.rate)/l.slope)
		w.Offered, w.RateEnd = l.rate+l.slope*ran/2, l.rate+l.slope*ran
	}
	if due := e.due.Load(); due != noDue && due < at {
		w.ScheduleLag = time.Duration(at - due)
	}
	// The target held every slot for more than a hundredth of the step,
	// not for the instant a burst of sends fills them.
	w.Saturated = e.waited.Load()*100 > at-e.stepStart
	w.InFlightStart, w.InFlightEnd = e.inFlightJudged, inFlight
	w.GenCPU, w.Goroutines = processCPU()-e.stepCPU, runtime.NumGoroutine()
	return w, err
}

// Pause stops sending and waits until every request in flight has
// finished, or maxWait has passed, or ctx ends; the next Step resumes. A
// target that queues without bound keeps the backlog of an overloaded step
// for a long time, and the next, lighter step would inherit its latency;
// pausing after a failed step lets the backlog drain first. Pause returns
// how long it waited.
func (e *Engine) Pause(ctx context.Context, maxWait time.Duration) time.Duration {
	start := time.Now()
	e.setLoad(stepLoad{step: -1})
	t := time.NewTimer(maxWait)
	defer t.Stop()
	e.awaitIdle(ctx, t.C)
	return time.Since(start)
}

// setLoad hands the scheduler a load, once it has taken the last.
func (e *Engine) setLoad(l stepLoad) {
	select {
	case e.loads <- l:
	case <-e.exhausted:
	}
}

// awaitIdle waits until no request is in flight, until fires or ctx ends.
// A worker hands its record over
// before it leaves the in-flight count, so once idle every record is with
// the collector.
func (e *Engine) awaitIdle(ctx context.Context, until <-chan time.Time) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for e.inflight.Load() > 0 {
		select {
		case <-tick.C:
		case <-until:
			return
		case <-ctx.Done():
			return
		}
	}
}

// inFlightSince returns the requests in flight that were scheduled at or
// after since. The caller holds cutMu.
func (e *Engine) inFlightSince(since int64) []rundir.Pending {
	e.slotsMu.Lock()
	defer e.slotsMu.Unlock()
	var out []rundir.Pending
	for _, sl := range e.slots {
		if v := sl.sched.Load(); v >= since {
			out = append(out, rundir.Pending{Scheduled: v, FirstToken: sl.first.Load()})
		}
	}
	return out
}

// warmConns is how many connections a client that can open them ahead
// opens before the run: enough for tens of thousands of requests a second
// to a target answering within a millisecond.
const warmConns = 64

// slot is a worker's request in flight: its scheduled time (-1 when
// idle) and when its first token or event arrived (0 before).
type slot struct {
	sched, first atomic.Int64
	e            *Engine
	// rec is the record of the worker's request in flight, kept here so
	// that a request costs no allocation of its own.
	rec rundir.Record
}

// after returns ns, or just after the last cut when the cut came between
// the moment ns was read and now: the cut then counted the request as
// still waiting, and the record must say what the cut saw. The caller
// holds cutMu for reading.
func (e *Engine) after(ns int64) int64 { return max(ns, e.cutAt+1) }

// handOver passes a finished request's record to the collector and frees
// its slot, in one step as far as a cut can tell: the request leaves the
// in-flight count once its record is with the collector.
func (e *Engine) handOver(rec *rundir.Record, sl *slot) {
	e.cutMu.RLock()
	rec.EndNs = e.after(rec.EndNs)
	// Clear the slot before handing the record over, so a cut never
	// counts a request both as pending and as done.
	sl.sched.Store(-1)
	e.handed.Add(1)
	select {
	case e.records <- *rec:
		e.inflight.Add(-1)
	default:
		// The collector (or the writer behind it) is behind: the slot is
		// held by the generator until the record is taken.
		e.handing.Add(1)
		e.records <- *rec
		e.inflight.Add(-1)
		e.handing.Add(-1)
	}
	e.cutMu.RUnlock()
}

// slotKey carries a request's slot in its context, for the client to mark
// its first token with.
type slotKey struct{}

// markFirstToken tells the engine that the request of ctx had its first
// token or event at ns, and returns the time to record for it.
func markFirstToken(ctx context.Context, ns int64) int64 {
	sl, ok := ctx.Value(slotKey{}).(*slot)
	if !ok {
		return ns
	}
	sl.e.cutMu.RLock()
	defer sl.e.cutMu.RUnlock()
	ns = sl.e.after(ns)
	sl.first.Store(ns)
	return ns
}

// Totals are the run's counts after Stop.
//
// Sent = OK + Failed + Canceled: a request the engine cancelled itself
// (at Stop) is not the target's failure.
type Totals struct {
	Sent, Recorded, OK, Failed, Canceled int64
}

// Stop ends sending, lets in-flight requests finish for StopGrace, cancels
// the rest (they are recorded as cancelled), waits for every goroutine and
// flushes the writer. It returns the first write error.
func (e *Engine) Stop() (Totals, error) {
	if e.stopped {
		return Totals{}, errors.New("probe: stopped twice")
	}
	e.stopped = true
	e.stopSched()
	<-e.schedDone
	done := make(chan struct{})
	go func() { e.workers.Wait(); close(done) }()
	t := time.NewTimer(e.cfg.StopGrace)
	select {
	case <-done:
		t.Stop()
	case <-t.C:
		e.cancelReq()
		<-done
	}
	e.cancelReq()
	// The connections kept for reuse give their descriptors back, for the
	// files still to be written.
	if c, ok := e.cfg.Client.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	close(e.records)
	<-e.collDone
	return e.totals, e.writeErr
}
