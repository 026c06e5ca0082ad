package probe

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
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
	kind        ctlKind
	step        int32
	start       int64
	judgedStart int64
	// judgedEnd is the planned end of the judged part (begin, extend) or
	// its actual end (cut).
	judgedEnd int64
	at        int64
	rate      float64
	conc      int
	// pending holds the scheduled times of the step's requests in flight
	// at the cut.
	pending []inFlight
	// streams counts a pending request without a first token in TTFT at
	// its age (EngineConfig.Streams).
	streams bool
	reply   chan Window
}

// stepStats accumulates one step in the collector.
type stepStats struct {
	step                    int32
	start                   int64
	judgedStart, judgedEnd  int64
	rate                    float64
	conc                    int
	lat, svc, lag, ttft, tp *hdrhistogram.Histogram
	ok, failed              int64
	errors                  map[string]int64
	bytesOut, bytesIn       int64
	prompt, output          int64
	completed               int64
	// tail holds records scheduled after the planned judged end, judged
	// only if the step is extended past them.
	tail []Record
}

func newStepStats(m ctl) *stepStats {
	return &stepStats{
		step: m.step, start: m.start,
		judgedStart: m.judgedStart, judgedEnd: m.judgedEnd,
		rate: m.rate, conc: m.conc,
		lat: NewHistogram(), svc: NewHistogram(), lag: NewHistogram(), ttft: NewHistogram(), tp: NewHistogram(),
		errors: map[string]int64{},
	}
}

// add takes one record of this step.
func (s *stepStats) add(r *Record) {
	RecordNs(s.lag, r.SendLag())
	switch {
	case r.ScheduledNs < s.judgedStart:
	case r.ScheduledNs >= s.judgedEnd:
		s.tail = append(s.tail, *r)
	default:
		s.judge(r)
	}
}

// judge counts a record of the judged part.
func (s *stepStats) judge(r *Record) {
	RecordNs(s.lat, r.Latency())
	RecordNs(s.svc, r.ServiceTime())
	if r.FirstTokenNs > 0 {
		RecordNs(s.ttft, r.FirstTokenNs-r.ScheduledNs)
		if r.OutputTokens > 1 {
			RecordNs(s.tp, (r.EndNs-r.FirstTokenNs)/int64(r.OutputTokens-1))
		}
	}
	if r.OK() {
		s.ok++
	} else {
		s.failed++
		s.errors[r.FailureClass()]++
	}
	s.bytesOut += r.BytesOut
	s.bytesIn += r.BytesIn
	s.prompt += int64(r.PromptTokens)
	s.output += int64(r.OutputTokens)
}

// extend moves the judged end and judges the tail records now inside it.
func (s *stepStats) extend(judgedEnd int64) {
	s.judgedEnd = judgedEnd
	kept := s.tail[:0]
	for i := range s.tail {
		if s.tail[i].ScheduledNs < judgedEnd {
			s.judge(&s.tail[i])
		} else {
			kept = append(kept, s.tail[i])
		}
	}
	s.tail = kept
}

// window summarises the step as of a cut. Pending requests enter the
// latency histogram of the window (not of the step) at their age.
func (s *stepStats) window(m ctl) Window {
	w := Window{
		Step:        int(s.step),
		Rate:        s.rate,
		Concurrency: s.conc,
		Start:       time.Duration(s.start),
		End:         time.Duration(m.at),
		JudgedStart: time.Duration(s.judgedStart),
		JudgedEnd:   time.Duration(m.judgedEnd),
		Completed:   s.completed,
		OK:          s.ok,
		Failed:      s.failed,
		Errors:      make(map[string]int64, len(s.errors)),
		Latency:     copyHist(s.lat),
		ServiceTime: copyHist(s.svc),
		SendLag:     copyHist(s.lag),
		TTFT:        copyHist(s.ttft),
		TPOT:        copyHist(s.tp),
		BytesOut:    s.bytesOut, BytesIn: s.bytesIn,
		PromptTokens: s.prompt, OutputTokens: s.output,
	}
	for k, v := range s.errors {
		w.Errors[k] = v
	}
	// A cut short step judges what its tail holds too.
	for i := range s.tail {
		if s.tail[i].ScheduledNs < m.judgedEnd {
			r := &s.tail[i]
			RecordNs(w.Latency, r.Latency())
			if r.OK() {
				w.OK++
			} else {
				w.Failed++
				w.Errors[r.FailureClass()]++
			}
		}
	}
	for _, p := range m.pending {
		if sched := p.sched; sched >= s.judgedStart && sched < m.judgedEnd {
			RecordNs(w.Latency, m.at-sched)
			switch {
			case p.first > 0:
				RecordNs(w.TTFT, p.first-sched)
			case m.streams:
				RecordNs(w.TTFT, m.at-sched)
			}
			w.Pending++
		}
	}
	w.Samples = w.OK + w.Failed + w.Pending
	return w
}

func copyHist(h *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	c := NewHistogram()
	c.Merge(h)
	return c
}

// batchRows is how many records the collector hands the writer at once.
const batchRows = 4096

// collect is the collector goroutine: it owns the step statistics and the
// run totals, and forwards records to the writer in batches.
func (e *Engine) collect() {
	defer close(e.collDone)
	batches := make(chan []Record, 4)
	free := make(chan []Record, 5)
	writerDone := make(chan struct{})
	go e.write(batches, free, writerDone)

	var cur *stepStats
	batch := make([]Record, 0, batchRows)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		batches <- batch
		select {
		case batch = <-free:
			batch = batch[:0]
		default:
			batch = make([]Record, 0, batchRows)
		}
	}
	take := func(r *Record) {
		e.totals.Sent++
		switch {
		case r.OK():
			e.totals.OK++
		case r.Error == ErrCanceled:
			e.totals.Canceled++
		default:
			e.totals.Failed++
		}
		if cur != nil {
			if r.Step == cur.step {
				cur.add(r)
			}
			if r.EndNs >= cur.start {
				cur.completed++
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
				cur = newStepStats(m)
			case ctlExtend:
				if cur != nil {
					cur.extend(m.judgedEnd)
				}
			case ctlCut:
				// Take what workers handed over before the cut.
				for n := len(e.records); n > 0; n-- {
					r, ok := <-e.records
					if !ok {
						break
					}
					take(&r)
				}
				if cur == nil {
					m.reply <- Window{}
					continue
				}
				m.reply <- cur.window(m)
			}
		case <-tick.C:
			flush()
		}
	}
}

// write is the writer goroutine. After a write error it keeps draining so
// workers never block, and Stop reports the error.
func (e *Engine) write(batches <-chan []Record, free chan<- []Record, done chan<- struct{}) {
	defer close(done)
	for b := range batches {
		if e.cfg.Writer != nil && e.writeErr == nil {
			if err := e.cfg.Writer.Write(b); err != nil {
				e.writeErr = err
			} else {
				e.totals.Recorded += int64(len(b))
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
