package probe

import (
	"context"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"
)

// localBackoff is how long a worker waits after the generator ran out of
// a local resource.
const localBackoff = 10 * time.Millisecond

// spawn starts a worker with its first job. Workers stay for the engine's
// life, so the pool grows to the largest in-flight count seen.
func (e *Engine) spawn(j job) {
	sl := &slot{e: e}
	sl.sched.Store(-1)
	e.slotsMu.Lock()
	e.slots = append(e.slots, sl)
	e.slotsMu.Unlock()
	e.workers.Add(1)
	go e.work(j, sl)
}

func (e *Engine) work(j job, sl *slot) {
	defer e.workers.Done()
	ctx := context.WithValue(e.reqCtx, slotKey{}, sl)
	for {
		sl.first.Store(0)
		sl.sched.Store(j.scheduled)
		// The scheduler held cuts off while the job was on its way.
		e.cutMu.RUnlock()
		rec := &sl.rec
		*rec = rundir.Record{
			Step:        j.step,
			OfferedQPS:  j.offered,
			ScheduledNs: j.scheduled,
			Seq:         j.seq,
			Payload:     j.payload.Index,
			PromptAsked: int32(j.payload.Asked),
			Turn:        int32(j.payload.Turn),
			Agent:       e.cfg.Agent,
			SentNs:      e.clock.Now(),
		}
		if c := j.payload.Conv; c != nil {
			rec.Conversation = c.ID
		}
		e.cfg.Client.Do(ctx, j.payload, rec, e.clock)
		e.handOver(rec, sl)
		if c := j.payload.Conv; c != nil && rec.OK() {
			// The conversation goes on after its think time; a failed turn
			// ends it, as a user would give up.
			if next, ok := c.Next(); ok {
				e.follow(next, j.seq, rec.EndNs+int64(c.Think))
			}
		}
		if rec.Error == rundir.ErrLocal {
			// Out of descriptors or ports, a request fails at once: wait
			// a little before the next rather than spin.
			time.Sleep(localBackoff)
		}
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
