package probe

import (
	"context"
	"math"
	"runtime"
	"time"
)

// noDue marks the absence of an open-loop schedule (closed loop, an
// unpaced burst, a pause).
const noDue = math.MaxInt64

// spinWindow is how long before a scheduled send the scheduler stops
// sleeping and spins.
const spinWindow = 1500 * time.Microsecond

// schedule is the scheduler goroutine: it paces sends against absolute
// scheduled times (never relative to the previous send, which drifts low),
// waits for an in-flight slot and hands each request to a worker.
func (e *Engine) schedule(ctx context.Context) {
	defer close(e.schedDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		l    stepLoad
		cur  int32   // the step next belongs to
		next int64   // the next open-loop scheduled time
		pos  float64 // on a ramp: the requests due by next
	)
	select {
	case l = <-e.loads:
	case <-ctx.Done():
		return
	}
loop:
	for {
		if l.step < 0 {
			// Paused: send nothing until the next step.
			e.due.Store(noDue)
			select {
			case l = <-e.loads:
				continue loop
			case <-ctx.Done():
				return
			}
		}
		openLoop := l.rate > 0 || l.rateEnd > 0
		var scheduled int64
		switch {
		case openLoop && math.IsInf(l.rate, 1):
			e.due.Store(noDue)
			scheduled = l.start
		case openLoop:
			if cur != l.step {
				// A new step starts its schedule afresh: the last gap was
				// drawn for the old rate.
				cur, next, pos = l.step, l.start, 0
				e.due.Store(next)
			}
			scheduled = next
			if wait := time.Duration(scheduled-e.clock.Now()) - spinWindow; wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case l = <-e.loads:
					timer.Stop()
					continue loop
				case <-ctx.Done():
					timer.Stop()
					return
				}
			}
			// Timers wake up to a millisecond late (the poller waits in
			// whole milliseconds); the last stretch is spun, yielding to
			// the workers, so sends leave on time.
			for e.clock.Now() < scheduled {
				runtime.Gosched()
			}
		}
		// Wait for a slot under the current bound.
		for e.inflight.Load() >= int64(l.concurrency) {
			e.waited.Store(true)
			select {
			case <-e.released:
			case l = <-e.loads:
				continue loop
			case <-ctx.Done():
				return
			}
		}
		if !openLoop {
			e.due.Store(noDue)
			scheduled = e.clock.Now()
		}
		p, ok := e.cfg.Source.Next()
		if !ok {
			e.due.Store(noDue)
			close(e.exhausted)
			e.idle(ctx)
			return
		}
		switch {
		case openLoop && l.rateEnd > 0:
			pos += e.cfg.Schedule.Gap(1).Seconds()
			next = l.start + rampAt(l, pos)
			e.due.Store(next)
		case openLoop && !math.IsInf(l.rate, 1):
			next += int64(e.cfg.Schedule.Gap(l.rate))
			e.due.Store(next)
		}
		e.inflight.Add(1)
		j := job{step: l.step, offered: offered(l), scheduled: scheduled, payload: p}
		select {
		case e.jobs <- j:
		default:
			e.spawn(j)
		}
		if n := e.sent.Add(1); e.cfg.Requests > 0 && n >= e.cfg.Requests {
			e.due.Store(noDue)
			close(e.exhausted)
			e.idle(ctx)
			return
		}
		// A new load may have arrived while this one was being sent. At
		// high rates the scheduler never waits on its timer, so it also
		// looks for the end here.
		select {
		case l = <-e.loads:
		case <-ctx.Done():
			return
		default:
		}
	}
}

// idle keeps accepting loads after the scheduler stopped sending, so that
// Step never blocks, until the engine stops.
func (e *Engine) idle(ctx context.Context) {
	for {
		select {
		case <-e.loads:
		case <-ctx.Done():
			return
		}
	}
}

// offered is what a record says was offered: the rate, or the concurrency
// in closed loop.
func offered(l stepLoad) float64 {
	if r := offeredRate(l); r > 0 && !math.IsInf(r, 1) {
		return r
	}
	return float64(l.concurrency)
}

// offeredRate is a step's open-loop rate: a ramp's mean.
func offeredRate(l stepLoad) float64 {
	if l.rateEnd > 0 {
		return (l.rate + l.rateEnd) / 2
	}
	return l.rate
}

// rampAt is when, in nanoseconds from the start of a ramp step, n
// requests are due: the t at which r0·t + slope·t²/2 = n, written so
// that it holds for a flat, rising or falling ramp and for r0 = 0. The
// schedule's own gaps, drawn at one request a second, advance n, so
// Poisson and gamma arrivals keep their shape on the ramp. A falling
// ramp that never reaches n is due after the step.
func rampAt(l stepLoad, n float64) int64 {
	d := l.rate*l.rate + 2*l.slope*n
	if n <= 0 {
		return 0
	}
	if d < 0 {
		return math.MaxInt64 / 2
	}
	return int64(2 * n / (l.rate + math.Sqrt(d)) * 1e9)
}

// spawn starts a worker with its first job. Workers stay for the engine's
// life, so the pool grows to the largest in-flight count seen.
func (e *Engine) spawn(j job) {
	sl := new(slot)
	sl.sched.Store(-1)
	e.slotsMu.Lock()
	e.slots = append(e.slots, sl)
	e.slotsMu.Unlock()
	e.workers.Add(1)
	go e.work(j, sl)
}

func (e *Engine) work(j job, sl *slot) {
	defer e.workers.Done()
	ctx := context.WithValue(e.reqCtx, firstTokenKey{}, &sl.first)
	for {
		sl.first.Store(0)
		sl.sched.Store(j.scheduled)
		rec := Record{
			Step:        j.step,
			OfferedQPS:  j.offered,
			ScheduledNs: j.scheduled,
			Payload:     j.payload.Index,
			Agent:       e.cfg.Agent,
			SentNs:      e.clock.Now(),
		}
		e.cfg.Client.Do(ctx, j.payload, &rec, e.clock)
		// Clear the slot before handing the record over, so a cut never
		// counts a request both as pending and as done.
		sl.sched.Store(-1)
		e.records <- rec
		e.inflight.Add(-1)
		select {
		case e.released <- struct{}{}:
		default:
		}
		var ok bool
		select {
		case j, ok = <-e.jobs:
		case <-e.schedDone:
			// The scheduler has stopped: no job can come.
			return
		}
		if !ok {
			return
		}
	}
}
