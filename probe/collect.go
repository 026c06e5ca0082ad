package probe

import (
	"math"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"
)

// ctlKind says what a control message to the collector means.
type ctlKind int

const (
	ctlBegin  ctlKind = iota // a new step begins
	ctlExtend                // the current step is held longer
	ctlCut                   // summarise the current step now
)

// ctl is a control message from Step to the collector. Times are run
// nanoseconds.
type ctl struct {
	kind   ctlKind
	step   int32
	bounds rundir.Bounds
	// judgedEnd is the planned end of the judged part (extend) or its
	// actual end (cut); at is the cut's time.
	judgedEnd, at int64
	// pending holds the step's requests in flight at the cut; handed is
	// how many records the workers had handed over by then, all of which
	// the window must see.
	pending []rundir.Pending
	handed  int64
	reply   chan *rundir.StepStats
}

// batchRows is how many records the collector hands the writer at once.
const batchRows = 4096

// collect is the collector goroutine: it owns the step's accumulator and
// the run totals, and forwards records to the writer in batches.
func (e *Engine) collect() {
	defer close(e.collDone)
	batches := make(chan []rundir.Record, 4)
	free := make(chan []rundir.Record, 5)
	writerDone := make(chan struct{})
	go e.write(batches, free, writerDone)

	var (
		cur      *rundir.Acc
		curStep  int32
		curStart int64
	)
	batch := make([]rundir.Record, 0, batchRows)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		batches <- batch
		select {
		case batch = <-free:
			batch = batch[:0]
		default:
			batch = make([]rundir.Record, 0, batchRows)
		}
	}
	// The seconds of the run as it goes, by when requests ended.
	var (
		live              *rundir.Live
		nextSecond, sentS int64
	)
	if e.cfg.OnSecond != nil {
		live, nextSecond = rundir.NewLive(), int64(time.Second)
		live.Keep = e.cfg.SecondHists
	}
	second := func() {
		for now := e.clock.Now(); now >= nextSecond; nextSecond += int64(time.Second) {
			sent := e.sent.Load()
			e.cfg.OnSecond(live.Cut(nextSecond, sent-sentS, e.inflight.Load()))
			sentS = sent
		}
	}
	take := func(r *rundir.Record) {
		if live != nil {
			if r.EndNs >= nextSecond {
				second()
			}
			live.Add(r)
		}
		e.totals.Sent++
		switch {
		case r.OK():
			e.totals.OK++
		case r.Error == rundir.ErrCanceled:
			e.totals.Canceled++
		default:
			e.totals.Failed++
		}
		if cur != nil {
			if r.Step == curStep {
				cur.Add(r)
			}
			if r.EndNs >= curStart {
				cur.Complete(r)
			}
		}
		batch = append(batch, *r)
		if len(batch) == batchRows {
			flush()
		}
	}
	// Flushing on a tick bounds how long a record waits in memory at low
	// rates, so the writer's parts rotate on time.
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r, ok := <-e.records:
			if !ok {
				flush()
				close(batches)
				<-writerDone
				return
			}
			take(&r)
		case m := <-e.ctl:
			switch m.kind {
			case ctlBegin:
				cur, curStep, curStart = rundir.NewAcc(int(m.step), m.bounds, e.judging), m.step, m.bounds.Start
			case ctlExtend:
				if cur != nil {
					cur.Extend(m.judgedEnd)
				}
			case ctlCut:
				// Take every record handed over before the cut: those, and
				// only those, ended by it.
				for e.totals.Sent < m.handed {
					r := <-e.records
					take(&r)
				}
				if cur == nil {
					m.reply <- nil
					continue
				}
				m.reply <- cur.Stats(m.at, m.judgedEnd, m.pending)
			}
		case <-tick.C:
			flush()
			if live != nil {
				second()
			}
		}
	}
}

// writeChunk is how many records the writer hands the recorder at a
// time, and writePause how long it waits between them: a chunk costs
// about half a millisecond of CPU, which the scheduler, on the same
// processor, would otherwise wait out whole batches at a time.
const (
	writeChunk = 1024
	writePause = 50 * time.Microsecond
)

// write is the writer goroutine. After a write error it tells Step, which
// ends the step, and keeps draining so workers never block; Stop reports
// the error too.
func (e *Engine) write(batches <-chan []rundir.Record, free chan<- []rundir.Record, done chan<- struct{}) {
	defer close(done)
	for b := range batches {
		for rest := b; len(rest) > 0 && e.cfg.Writer != nil && e.writeErr == nil; {
			chunk := rest[:min(len(rest), writeChunk)]
			if err := e.cfg.Writer.Write(chunk); err != nil {
				e.writeErr = err
				close(e.writeFailed)
				break
			}
			e.totals.Recorded += int64(len(chunk))
			if rest = rest[len(chunk):]; len(rest) > 0 {
				// The runtime looks for the scheduler's wake-up only once
				// nothing else is ready to run: a pause, not a yield, lets
				// it send on time between chunks.
				time.Sleep(writePause)
			}
		}
		select {
		case free <- b:
		default:
		}
	}
}

// planEnd is the planned end of the judged part of a step held for hold.
func planEnd(start int64, hold, tail time.Duration) int64 {
	if hold <= 0 {
		return math.MaxInt64
	}
	return start + int64(hold) - int64(tail)
}
