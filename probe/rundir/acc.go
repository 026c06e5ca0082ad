package rundir

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Judging says how an accumulator judges its step's records.
type Judging struct {
	// Streams is set when the run's requests stream tokens or events: a
	// judged request still pending without a first token then counts in
	// TTFT at its age, a lower bound.
	Streams bool
	// MaxRT, MaxTTFT and MaxTPOT decide which judged requests are good
	// (StepStats.Good); zero is no limit.
	MaxRT, MaxTTFT, MaxTPOT time.Duration
	// KeepTail keeps the records scheduled after the judged end, to judge
	// them if the step is extended past them (Acc.Extend) or ends later
	// than planned. A live run sets it; a recorded step's bounds are
	// final.
	KeepTail bool
}

// Bounds are a step's times, in nanoseconds since the run's start. A
// running step's End is Open.
type Bounds struct {
	Start, End, JudgedStart, JudgedEnd, Mid int64
}

// Open is the End of a step still running: no record is pending yet.
const Open = math.MaxInt64

// Pending is a request still in flight when a step was cut: when it was
// scheduled and when its first token arrived (0 before one).
type Pending struct{ Scheduled, FirstToken int64 }

// Acc accumulates one step: the one reduction from records to step
// statistics, used by the live collector, by analysis reading a recorded
// run and by a coordinator merging generators' windows, so that each sees
// the same figures. It is not safe for concurrent use.
type Acc struct {
	j Judging
	s StepStats
	// tail holds the records scheduled at or after the judged end, with
	// Judging.KeepTail.
	tail []Record
}

// NewAcc returns an empty accumulator of a step with bounds b. Mid, when
// zero, is the middle of the judged stretch.
func NewAcc(step int, b Bounds, j Judging) *Acc {
	a := &Acc{j: j, s: newStepStats()}
	a.s.Step = step
	a.setBounds(b)
	return a
}

func (a *Acc) setBounds(b Bounds) {
	if b.Mid == 0 && b.JudgedEnd != Open {
		b.Mid = b.JudgedStart + (b.JudgedEnd-b.JudgedStart)/2
	}
	s := &a.s
	s.Start, s.End = time.Duration(b.Start), time.Duration(b.End)
	s.JudgedStart, s.JudgedEnd, s.Mid = time.Duration(b.JudgedStart), time.Duration(b.JudgedEnd), time.Duration(b.Mid)
}

// Add takes one record the step sent.
func (a *Acc) Add(r *Record) {
	s := &a.s
	s.Sent++
	if r.Turn > 0 {
		s.Turns++
	}
	if r.EndNs <= int64(s.End) {
		// What a request carried is known once it ended. The send lag
		// leaves out the warm-up, as the latencies it may explain do:
		// there a generator opens its connections and grows its workers.
		if r.ScheduledNs >= int64(s.JudgedStart) {
			RecordNs(s.SendLag, r.SendLag())
		}
		s.Events += int64(r.Events)
		if r.NewConn {
			s.NewConns++
		}
		s.BytesOut += r.BytesOut
		s.BytesIn += r.BytesIn
	}
	switch {
	case r.ScheduledNs < int64(s.JudgedStart):
	case r.ScheduledNs >= int64(s.JudgedEnd):
		if a.j.KeepTail {
			a.tail = append(a.tail, *r)
		}
	default:
		s.judge(r, &a.j)
	}
}

// Complete counts a response, of any step, that ended during the step.
func (a *Acc) Complete(r *Record) {
	s := &a.s
	s.Completed++
	s.PromptTokens += int64(r.PromptTokens)
	s.OutputTokens += int64(r.OutputTokens)
}

// Extend moves the judged end of a running step later, judging the
// records of its tail now inside it.
func (a *Acc) Extend(judgedEnd int64) {
	a.s.JudgedEnd = time.Duration(judgedEnd)
	a.tail = judgeTail(&a.s, a.tail, judgedEnd, &a.j)
}

// judgeTail judges the records of tail scheduled before judgedEnd into s
// and returns those left.
func judgeTail(s *StepStats, tail []Record, judgedEnd int64, j *Judging) []Record {
	kept := tail[:0]
	for i := range tail {
		if tail[i].ScheduledNs < judgedEnd {
			s.judge(&tail[i], j)
		} else {
			kept = append(kept, tail[i])
		}
	}
	return kept
}

// Stats returns the step's statistics as of its end: what was added, the
// tail scheduled before judgedEnd, and the judged requests pending at end.
// The accumulator is left as it was, so a running step can be summarised
// again later. Mid, when not fixed at creation, is the middle of the
// judged stretch the step was created with.
func (a *Acc) Stats(end, judgedEnd int64, pending []Pending) *StepStats {
	return a.finish(a.s.clone(), end, judgedEnd, pending)
}

// Final is Stats for a step that is over: it returns the accumulator's
// own statistics, without copying its histograms, and the accumulator
// must not be used again.
func (a *Acc) Final(end, judgedEnd int64, pending []Pending) *StepStats {
	return a.finish(&a.s, end, judgedEnd, pending)
}

// finish completes c, the step's statistics, as of end.
func (a *Acc) finish(c *StepStats, end, judgedEnd int64, pending []Pending) *StepStats {
	c.End, c.JudgedEnd = time.Duration(end), time.Duration(judgedEnd)
	for i := range a.tail {
		if a.tail[i].ScheduledNs < judgedEnd {
			c.judge(&a.tail[i], &a.j)
		}
	}
	for _, p := range pending {
		if p.Scheduled >= int64(c.JudgedStart) && p.Scheduled < judgedEnd {
			c.pending(p, end, &a.j)
		}
	}
	return c
}

// Merge adds o, an accumulator of the same step from another reader or
// generator, into a. A histogram value outside a's range is an error:
// every accumulator has the same geometry, so none should be.
func (a *Acc) Merge(o *Acc) error {
	if err := a.s.merge(&o.s); err != nil {
		return err
	}
	a.tail = append(a.tail, o.tail...)
	return nil
}

// judge counts a record of the judged stretch: done when it ended by End,
// pending otherwise.
func (s *StepStats) judge(r *Record, j *Judging) {
	end := int64(s.End)
	if r.EndNs > end {
		first := r.FirstTokenNs
		if first > end {
			first = 0
		}
		s.pending(Pending{Scheduled: r.ScheduledNs, FirstToken: first}, end, j)
		return
	}
	lat := r.Latency()
	if r.OK() {
		s.OK++
	} else {
		s.Failed++
		s.Errors[r.FailureClass()]++
	}
	good := r.OK() && (j.MaxRT <= 0 || lat <= int64(j.MaxRT))
	if r.FirstTokenNs > 0 {
		ttft := r.TTFT()
		RecordNs(lazy(&s.TTFT), ttft)
		good = good && (j.MaxTTFT <= 0 || ttft <= int64(j.MaxTTFT))
		if tpot := r.TPOT(); tpot > 0 {
			RecordNs(lazy(&s.TPOT), tpot)
			good = good && (j.MaxTPOT <= 0 || tpot <= int64(j.MaxTPOT))
		}
		if r.ITLMaxNs > 0 {
			RecordNs(lazy(&s.ITL), r.ITLMaxNs)
		}
	}
	if good {
		s.Good++
	}
	s.sample(r.ScheduledNs, lat)
}

// pending counts a judged request in flight at end, aged at end; so is
// its time to first token when none had come and the run streams.
func (s *StepStats) pending(p Pending, end int64, j *Judging) {
	age := end - p.Scheduled
	s.Pending++
	switch {
	case p.FirstToken > 0:
		RecordNs(lazy(&s.TTFT), p.FirstToken-p.Scheduled)
	case j.Streams:
		RecordNs(lazy(&s.TTFT), age)
	}
	s.sample(p.Scheduled, age)
}

// sample adds a judged latency, done or pending.
func (s *StepStats) sample(scheduled, lat int64) {
	s.Samples++
	RecordNs(s.Latency, lat)
	if scheduled < int64(s.Mid) {
		RecordNs(s.Early, lat)
	} else {
		RecordNs(s.Late, lat)
	}
	s.Busy += time.Duration(lat)
}

// clone returns a deep copy of s.
func (s *StepStats) clone() *StepStats {
	c := *s
	c.Errors = maps.Clone(s.Errors)
	c.Latency, c.Early, c.Late, c.SendLag = copyHist(s.Latency), copyHist(s.Early), copyHist(s.Late), copyHist(s.SendLag)
	c.TTFT, c.TPOT, c.ITL = copyHist(s.TTFT), copyHist(s.TPOT), copyHist(s.ITL)
	return &c
}

// copyHist returns a copy of h; nil for nil.
func copyHist(h *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	if h == nil {
		return nil
	}
	c := hdrhistogram.New(h.LowestTrackableValue(), h.HighestTrackableValue(), int(h.SignificantFigures()))
	c.Merge(h)
	return c
}

// lazy returns *h, made on first use: a run that does not stream keeps no
// histograms of tokens.
func lazy(h **hdrhistogram.Histogram) *hdrhistogram.Histogram {
	if *h == nil {
		*h = NewHistogram()
	}
	return *h
}

// merge adds o's counts and histograms into s.
func (s *StepStats) merge(o *StepStats) error {
	s.Sent += o.Sent
	s.Completed += o.Completed
	s.Samples += o.Samples
	s.OK += o.OK
	s.Failed += o.Failed
	s.Pending += o.Pending
	s.Good += o.Good
	s.PromptTokens += o.PromptTokens
	s.OutputTokens += o.OutputTokens
	s.Events += o.Events
	s.NewConns += o.NewConns
	s.BytesOut += o.BytesOut
	s.BytesIn += o.BytesIn
	s.Busy += o.Busy
	for k, v := range o.Errors {
		s.Errors[k] += v
	}
	var dropped int64
	oh := o.hists()
	for i, h := range s.hists() {
		if *oh[i] != nil {
			dropped += lazy(h).Merge(*oh[i])
		}
	}
	if dropped > 0 {
		return fmt.Errorf("rundir: merging step %d dropped %d histogram values: histograms of another geometry", s.Step, dropped)
	}
	return nil
}

// AccSnapshot is an accumulator exported for the wire: its counts, and
// its histograms in HdrHistogram's compressed V2 encoding.
type AccSnapshot struct {
	Step       int              `json:"step"`
	Bounds     Bounds           `json:"bounds"`
	Counts     map[string]int64 `json:"counts"`
	Errors     map[string]int64 `json:"errors,omitempty"`
	Histograms [][]byte         `json:"histograms"`
}

// counts names the counters of a snapshot.
func (s *StepStats) counts() map[string]*int64 {
	return map[string]*int64{
		"sent": &s.Sent, "completed": &s.Completed, "samples": &s.Samples, "ok": &s.OK,
		"failed": &s.Failed, "pending": &s.Pending, "good": &s.Good,
		"prompt_tokens": &s.PromptTokens, "output_tokens": &s.OutputTokens, "events": &s.Events,
		"new_conns": &s.NewConns, "bytes_out": &s.BytesOut, "bytes_in": &s.BytesIn, "busy_ns": (*int64)(&s.Busy),
	}
}

// Snapshot returns a step's counts and histograms for the wire, to be
// merged by ImportAcc and Merge: a generator sends a step's once its
// bounds are final.
func (s *StepStats) Snapshot() (AccSnapshot, error) {
	snap := AccSnapshot{
		Step:   s.Step,
		Bounds: Bounds{int64(s.Start), int64(s.End), int64(s.JudgedStart), int64(s.JudgedEnd), int64(s.Mid)},
		Counts: map[string]int64{}, Errors: maps.Clone(s.Errors),
	}
	for k, p := range s.counts() {
		snap.Counts[k] = *p
	}
	for _, h := range s.hists() {
		var b []byte
		if *h != nil {
			var err error
			if b, err = (*h).EncodeV2(); err != nil {
				return AccSnapshot{}, fmt.Errorf("rundir: encoding a histogram: %w", err)
			}
		}
		snap.Histograms = append(snap.Histograms, b)
	}
	return snap, nil
}

// ImportAcc rebuilds an accumulator from a snapshot, to Merge into
// another. Its histograms must have the geometry of the accumulator's own.
func ImportAcc(snap AccSnapshot, j Judging) (*Acc, error) {
	a := NewAcc(snap.Step, snap.Bounds, j)
	s := &a.s
	if len(snap.Histograms) != len(s.hists()) {
		return nil, fmt.Errorf("rundir: a step snapshot holds %d histograms, want %d", len(snap.Histograms), len(s.hists()))
	}
	for k, p := range s.counts() {
		*p = snap.Counts[k]
	}
	maps.Copy(s.Errors, snap.Errors)
	hs := s.hists()
	for i, b := range snap.Histograms {
		if len(b) == 0 {
			continue
		}
		h, err := hdrhistogram.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("rundir: decoding a histogram: %w", err)
		}
		want := *hs[i]
		if want == nil {
			want = NewHistogram()
		}
		if h.LowestTrackableValue() != want.LowestTrackableValue() || h.HighestTrackableValue() != want.HighestTrackableValue() ||
			h.SignificantFigures() != want.SignificantFigures() {
			return nil, errors.New("rundir: a step snapshot's histograms have another geometry")
		}
		lazy(hs[i]).Merge(h)
	}
	return a, nil
}
