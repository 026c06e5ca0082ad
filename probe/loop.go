package probe

import (
	"context"
	"math"
	"time"
)

// noDue marks the absence of an open-loop schedule (closed loop, an
// unpaced burst, a pause).
const noDue = math.MaxInt64

// schedule is the scheduler goroutine: it sleeps until the plan's next
// time (absolute, never relative to the previous send, which drifts low),
// waits for an in-flight slot and hands each request to a worker.
func (e *Engine) schedule(ctx context.Context) {
	defer close(e.schedDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	sleep, release := newSleeper()
	defer release()
	// woke is when the scheduler last woke from a precise sleep.
	var woke int64
	p := newPlan(e.cfg.Schedule)
	var (
		l stepLoad
		// held is set from a step's cut until the next step, or until the
		// step is held longer: its sends end at its cut. Nothing is sent
		// before the first step.
		held = true
		// resumed is when sending last began again: a conversation's turn
		// due while nothing was sent waits until then.
		resumed int64
	)
	take := func(nl stepLoad) {
		switch {
		case nl.hold:
			held = true
			return
		case nl.step < 0:
			p.pause()
		case nl.step == l.step && held:
			// The step is held longer: on from now, in phase.
			p.skip(e.clock.Now())
		default:
			p.set(nl)
		}
		l, held, resumed = nl, false, e.clock.Now()
		e.publishDue(p)
	}
	// pass draws the payloads of the arrivals the plan dropped and, when
	// the next arrival is another generator's share, its payload too,
	// taking it off the plan (passed); ok is false once the source ran
	// dry.
	pass := func() (passed, ok bool) {
		for ; p.dropped > 0; p.dropped-- {
			if _, ok := e.cfg.Source.Next(); !ok {
				return false, false
			}
		}
		if e.ours(p.seq) {
			return false, true
		}
		if _, ok := e.cfg.Source.Next(); !ok {
			return false, false
		}
		p.take(e.clock.Now())
		e.publishDue(p)
		return true, true
	}
loop:
	for {
		if l.step < 0 || held {
			// Paused or cut: send nothing until the next load.
			select {
			case nl := <-e.loads:
				take(nl)
				continue loop
			case <-ctx.Done():
				return
			}
		}
		// The next send is the plan's next arrival or a conversation's
		// next turn, whichever is due first; an unpaced plan sends at once.
		due, paced := p.due()
		if turnDue, ok := e.followUps.next(); ok && paced && turnDue < due {
			due = turnDue
		}
		if paced {
			if wait := time.Duration(due-e.clock.Now()) - timerSlop; wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case nl := <-e.loads:
					timer.Stop()
					take(nl)
					continue loop
				case <-e.followUps.wake:
					// A turn came, which may be due sooner.
					timer.Stop()
					continue loop
				case <-ctx.Done():
					timer.Stop()
					return
				}
			}
			if now := e.clock.Now(); due > now {
				// At most one wake-up every minWake: the requests due
				// within it leave together.
				waitUntil(max(due, woke+int64(minWake)), e.clock.Now, sleep)
				woke = e.clock.Now()
			}
		}
		if p.dropped > 0 || e.cfg.Shard.Of > 1 {
			if turnDue, due := e.followUps.next(); !due || turnDue > e.clock.Now() {
				passed, ok := pass()
				if !ok {
					e.exhaust(ctx)
					return
				}
				if passed {
					continue
				}
			}
		}
		// Wait for a slot under the current bound.
		for e.inflight.Load() >= int64(l.concurrency) {
			// A slot held by a worker that cannot hand its record over is
			// the generator's backpressure, not the target's: a wait counts
			// for the target when none was handing over as it began and
			// ended.
			target := e.inflight.Load()-e.handing.Load() >= int64(l.concurrency)
			since := e.clock.Now()
			select {
			case <-e.released:
			case nl := <-e.loads:
				take(nl)
				continue loop
			case <-ctx.Done():
				return
			}
			if target && e.handing.Load() == 0 {
				e.waited.Add(e.clock.Now() - since)
			}
		}
		var j job
		if turnDue, ok := e.followUps.next(); ok && turnDue <= e.clock.Now() {
			t := e.followUps.pop()
			j = job{scheduled: max(t.due, resumed), seq: t.seq, payload: t.payload}
			e.turns.Add(1)
		} else {
			payload, ok := e.cfg.Source.Next()
			if !ok {
				e.exhaust(ctx)
				return
			}
			j.payload = payload
			j.seq, j.scheduled = p.take(e.clock.Now())
			e.publishDue(p)
		}
		j.step, j.offered = l.step, offered(l)
		// A cut must see the request as in flight from now on: the worker
		// that takes it puts it in its slot and only then lets a cut
		// through (work).
		e.cutMu.RLock()
		e.inflight.Add(1)
		select {
		case e.jobs <- j:
		default:
			e.spawn(j)
		}
		if n := e.sent.Add(1); e.cfg.Requests > 0 && n >= e.cfg.Requests {
			e.exhaust(ctx)
			return
		}
		// A new load may have arrived while this one was being sent. At
		// high rates the scheduler never waits on its timer, so it also
		// looks for the end here.
		select {
		case nl := <-e.loads:
			take(nl)
		case <-ctx.Done():
			return
		default:
		}
	}
}

// ours reports whether the arrival numbered seq is this generator's to
// send: every one, or those of its residue when generators share the
// schedule.
func (e *Engine) ours(seq int64) bool {
	sh := e.cfg.Shard
	return sh.Of <= 1 || seq%int64(sh.Of) == int64(sh.Index)
}

// publishDue tells Step when the plan's next send is due, for the
// schedule lag of a cut.
func (e *Engine) publishDue(p *plan) {
	if due, paced := p.due(); paced {
		e.due.Store(due)
	} else {
		e.due.Store(noDue)
	}
}

// exhaust ends the sending for good: it tells Step, then keeps accepting
// loads, so that Step never blocks, until the engine stops.
func (e *Engine) exhaust(ctx context.Context) {
	e.due.Store(noDue)
	close(e.exhausted)
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
