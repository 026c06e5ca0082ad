package analysis

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe"
)

// StepStats is one step rebuilt from the recorded requests.
//
// The judged requests are those scheduled in [JudgedStart, JudgedEnd). As
// in the live run, a judged request that had not ended by the step's End
// counts as pending, with its age at End as its latency: the live verdict
// and the offline one see the same evidence.
type StepStats struct {
	Step        int
	Phase       string
	Offered     float64 // requests/s offered; 0 in closed loop
	Concurrency int
	Saturated   bool
	// ScheduleLag is how far behind its open-loop schedule the generator
	// was at the step's end.
	ScheduleLag time.Duration
	// RateEnd is the rate a ramp step ended at (Offered is its mean).
	RateEnd float64
	// InFlightStart and InFlightEnd are the requests in flight as the
	// judged part began and at the step's end, as the run counted them
	// (zero for steps recovered from the requests alone).
	InFlightStart, InFlightEnd int64

	Start, End             time.Duration
	JudgedStart, JudgedEnd time.Duration

	// Sent counts the requests the step dispatched; Completed the
	// responses (of any step) that ended during it.
	Sent, Completed              int64
	Samples, OK, Failed, Pending int64
	// Errors counts the judged failures by class ("status 503", …).
	Errors map[string]int64

	// Latency (end − scheduled) of the judged requests, and of the first
	// and second halves of the judged stretch; SendLag of the requests
	// sent that had ended by the step's end, as the run judged it. All in
	// microseconds.
	Latency, Early, Late, SendLag *hdrhistogram.Histogram
	// TTFT (first token − scheduled), TPOT ((end − first token) / (output
	// tokens − 1)) and ITL (each request's largest gap between tokens or
	// events) of the judged requests that streamed, in microseconds.
	TTFT, TPOT, ITL *hdrhistogram.Histogram
	// Good counts the judged requests that succeeded within every limit
	// of ReadOptions.Limits: the goodput's numerator.
	Good int64
	// PromptTokens and OutputTokens sum the tokens of the requests that
	// ended during the step; Events and NewConns are over those it sent.
	PromptTokens, OutputTokens, Events, NewConns int64

	BytesOut, BytesIn int64
	// busy is the summed latency of the judged requests, in seconds:
	// divided by the judged time it is the mean number in flight.
	busy float64
}

// Duration is the step's length.
func (s *StepStats) Duration() time.Duration { return s.End - s.Start }

// Achieved is the rate at which responses completed during the step.
func (s *StepStats) Achieved() float64 {
	if d := s.Duration().Seconds(); d > 0 {
		return float64(s.Completed) / d
	}
	return 0
}

// Goodput is the judged requests per second that met every limit.
func (s *StepStats) Goodput() float64 {
	if d := (s.JudgedEnd - s.JudgedStart).Seconds(); d > 0 {
		return float64(s.Good) / d
	}
	return 0
}

// OutputRate is the output tokens per second of the requests that ended
// during the step.
func (s *StepStats) OutputRate() float64 {
	if d := s.Duration().Seconds(); d > 0 {
		return float64(s.OutputTokens) / d
	}
	return 0
}

// Behind reports whether the generator ended the step behind its
// schedule, as the live run judges it.
func (s *StepStats) Behind() bool { return probe.BehindSchedule(s.ScheduleLag, s.Duration()) }

// ErrorRate is the judged failures over judged samples.
func (s *StepStats) ErrorRate() float64 {
	if s.Samples == 0 {
		return 0
	}
	return float64(s.Failed) / float64(s.Samples)
}

// InFlight is the mean number of judged requests in flight, by Little's
// law: the summed latency over the judged time.
func (s *StepStats) InFlight() float64 {
	if d := (s.JudgedEnd - s.JudgedStart).Seconds(); d > 0 {
		return s.busy / d
	}
	return 0
}

// Load is the step's offered load: its rate, or its concurrency in
// closed loop.
func (s *StepStats) Load() float64 {
	if s.Offered > 0 {
		return s.Offered
	}
	return float64(s.Concurrency)
}

// Rate is the request rate the step stands for in the answer: the rate
// offered in open loop, the throughput delivered in closed loop.
func (s *StepStats) Rate() float64 {
	if s.Offered > 0 {
		return s.Offered
	}
	return s.Achieved()
}

// Timeline is the run second by second.
type Timeline struct {
	// Sent and Completed count requests per second by when they were
	// scheduled and when they ended; Failed the failures by when they
	// ended, by class.
	Sent, Completed []int64
	Failed          map[string][]int64
	// P99 is the latency p99 of the requests that ended in each second
	// (0 for a second with none).
	P99 []time.Duration
}

// Run is a recorded run read back.
type Run struct {
	Dir   string
	Steps []*StepStats
	// Records counts the rows read: OK + Failed + Canceled.
	Records, OK, Failed, Canceled int64
	// Streamed counts the requests with a first token or event;
	// Counted those whose output tokens were counted from chunks for want
	// of a usage report; Mismatched those whose usage disagreed with the
	// content chunks (a chunk may carry several tokens).
	Streamed, Counted, Mismatched int64
	Timeline                      Timeline
	// Meta is the key/value metadata of the first part (run start, URL,
	// mode, version).
	Meta map[string]string
}

// ReadOptions tune how a run is read back.
type ReadOptions struct {
	// Warmup, when set (≥ 0), replaces the run's own warm-up cut: each
	// step is judged from its start plus Warmup. Unset (negative), the
	// judged stretch the run recorded is kept.
	Warmup time.Duration
	// Limits decide which requests count towards each step's goodput.
	Limits controller.Limits
}

// ReadRun reads a run directory: steps.parquet for the steps' bounds, and
// every request part, streamed (memory grows with the steps and seconds
// of the run, not its requests). A run without steps.parquet (one that
// was killed) is read with one step per recorded step number, bounded by
// its requests' scheduled times.
func ReadRun(dir string, opt ReadOptions) (*Run, error) {
	r := &Run{Dir: dir}
	parts, err := probe.Parts(dir)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("analysis: %s holds no recorded requests (no requests/part-*.parquet)", dir)
	}
	if r.Meta, err = probe.ReadMetadata(parts[0]); err != nil {
		return nil, err
	}
	rows, err := readSteps(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if rows, err = stepsFromRecords(dir); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("analysis: %s has no steps", dir)
	}
	byStep := map[int32]*StepStats{}
	for _, row := range rows {
		s := &StepStats{
			Step: int(row.Step), Phase: row.Phase, Offered: row.OfferedQPS, Concurrency: int(row.Concurrency),
			Saturated: row.Saturated, ScheduleLag: time.Duration(row.ScheduleLagNs),
			RateEnd: row.RateEndQPS, InFlightStart: row.InFlightStart, InFlightEnd: row.InFlightEnd,
			Start: time.Duration(row.StartNs), End: time.Duration(row.EndNs),
			JudgedStart: time.Duration(row.JudgedStartNs), JudgedEnd: time.Duration(row.JudgedEndNs),
			Errors:  map[string]int64{},
			Latency: probe.NewHistogram(), Early: probe.NewHistogram(), Late: probe.NewHistogram(), SendLag: probe.NewHistogram(),
			TTFT: probe.NewHistogram(), TPOT: probe.NewHistogram(), ITL: probe.NewHistogram(),
		}
		if s.JudgedEnd <= s.JudgedStart {
			s.JudgedStart, s.JudgedEnd = s.Start, s.End
		}
		if opt.Warmup >= 0 {
			s.JudgedStart = min(s.Start+opt.Warmup, s.JudgedEnd)
		}
		r.Steps = append(r.Steps, s)
		byStep[row.Step] = s
	}
	sort.Slice(r.Steps, func(i, j int) bool { return r.Steps[i].Start < r.Steps[j].Start })
	// Parts are read in parallel, one shard of statistics per reader,
	// merged at the end: every statistic is a sum or a histogram, so the
	// order records are seen in does not matter.
	workers := min(runtime.GOMAXPROCS(0), len(parts))
	shards := make([]*shard, workers)
	errs := make([]error, workers)
	next := make(chan string)
	var wg sync.WaitGroup
	for w := range workers {
		shards[w] = newShard(r.Steps, opt.Limits, r.Meta["run.streams"] == "true")
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]probe.Record, 8192)
			for path := range next {
				if errs[w] == nil {
					errs[w] = probe.ReadPart(path, buf, shards[w].add)
				}
			}
		}()
	}
	for _, p := range parts {
		next <- p
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	tl := newTimeline()
	for _, sh := range shards {
		r.merge(sh)
		tl.merge(sh.tl)
	}
	r.Timeline = tl.done()
	return r, nil
}

// shard is one reader's statistics: its own copy of every step and of
// the timeline.
type shard struct {
	run    Run
	byStep map[int32]*StepStats
	tl     *timeline
	lim    controller.Limits
	// streams: the run's requests streamed (its run.streams metadata).
	streams bool
}

func newShard(steps []*StepStats, lim controller.Limits, streams bool) *shard {
	sh := &shard{byStep: map[int32]*StepStats{}, tl: newTimeline(), lim: lim, streams: streams}
	for _, s := range steps {
		c := &StepStats{
			Step: s.Step, Start: s.Start, End: s.End, JudgedStart: s.JudgedStart, JudgedEnd: s.JudgedEnd,
			Errors:  map[string]int64{},
			Latency: probe.NewHistogram(), Early: probe.NewHistogram(), Late: probe.NewHistogram(), SendLag: probe.NewHistogram(),
			TTFT: probe.NewHistogram(), TPOT: probe.NewHistogram(), ITL: probe.NewHistogram(),
		}
		sh.run.Steps = append(sh.run.Steps, c)
		sh.byStep[int32(s.Step)] = c
	}
	return sh
}

func (sh *shard) add(batch []probe.Record) error {
	r := &sh.run
	for i := range batch {
		rec := &batch[i]
		r.Records++
		switch {
		case rec.OK():
			r.OK++
		case rec.Error == probe.ErrCanceled:
			r.Canceled++
		default:
			r.Failed++
		}
		if rec.FirstTokenNs > 0 {
			r.Streamed++
		}
		switch {
		case rec.TokenSource == "chunks":
			r.Counted++
		case rec.TokenSource == "usage" && rec.Chunks > 0 && rec.Chunks != rec.OutputTokens:
			r.Mismatched++
		}
		sh.tl.add(rec)
		if s := r.stepAt(rec.EndNs); s != nil {
			s.Completed++
			s.PromptTokens += int64(rec.PromptTokens)
			s.OutputTokens += int64(rec.OutputTokens)
		}
		if s := sh.byStep[rec.Step]; s != nil {
			s.add(rec, sh.lim, sh.streams)
		}
	}
	return nil
}

// merge adds a shard's counts and histograms into r.
func (r *Run) merge(sh *shard) {
	r.Records += sh.run.Records
	r.OK += sh.run.OK
	r.Failed += sh.run.Failed
	r.Canceled += sh.run.Canceled
	r.Streamed += sh.run.Streamed
	r.Counted += sh.run.Counted
	r.Mismatched += sh.run.Mismatched
	for i, s := range r.Steps {
		o := sh.run.Steps[i]
		s.Sent += o.Sent
		s.Completed += o.Completed
		s.Samples += o.Samples
		s.OK += o.OK
		s.Failed += o.Failed
		s.Pending += o.Pending
		s.BytesOut += o.BytesOut
		s.BytesIn += o.BytesIn
		s.busy += o.busy
		s.Good += o.Good
		s.PromptTokens += o.PromptTokens
		s.OutputTokens += o.OutputTokens
		s.Events += o.Events
		s.NewConns += o.NewConns
		s.TTFT.Merge(o.TTFT)
		s.TPOT.Merge(o.TPOT)
		s.ITL.Merge(o.ITL)
		for k, v := range o.Errors {
			s.Errors[k] += v
		}
		s.Latency.Merge(o.Latency)
		s.Early.Merge(o.Early)
		s.Late.Merge(o.Late)
		s.SendLag.Merge(o.SendLag)
	}
}

// stepAt returns the step whose span holds time ns, if any.
func (r *Run) stepAt(ns int64) *StepStats {
	i := sort.Search(len(r.Steps), func(i int) bool { return int64(r.Steps[i].End) > ns })
	if i < len(r.Steps) && int64(r.Steps[i].Start) <= ns {
		return r.Steps[i]
	}
	return nil
}

func (s *StepStats) add(r *probe.Record, lim controller.Limits, streams bool) {
	s.Sent++
	s.Events += int64(r.Events)
	if r.NewConn {
		s.NewConns++
	}
	if r.EndNs <= int64(s.End) {
		// As the live window: the lag of the requests that had come back
		// by the step's end.
		probe.RecordNs(s.SendLag, r.SendLag())
	}
	s.BytesOut += r.BytesOut
	s.BytesIn += r.BytesIn
	at := int64(s.JudgedStart)
	if r.ScheduledNs < at || r.ScheduledNs >= int64(s.JudgedEnd) {
		return
	}
	s.Samples++
	lat := r.Latency()
	if r.EndNs > int64(s.End) {
		// Still in flight when the step ended: pending, aged at the end,
		// and so is its time to first token if none had come by then.
		lat = int64(s.End) - r.ScheduledNs
		s.Pending++
		switch {
		case r.FirstTokenNs > 0 && r.FirstTokenNs <= int64(s.End):
			probe.RecordNs(s.TTFT, r.FirstTokenNs-r.ScheduledNs)
		case streams:
			probe.RecordNs(s.TTFT, lat)
		}
	} else {
		if r.OK() {
			s.OK++
		} else {
			s.Failed++
			s.Errors[r.FailureClass()]++
		}
		s.timeTokens(r, lat, lim)
	}
	probe.RecordNs(s.Latency, lat)
	half := at + int64(s.JudgedEnd-s.JudgedStart)/2
	if r.ScheduledNs < half {
		probe.RecordNs(s.Early, lat)
	} else {
		probe.RecordNs(s.Late, lat)
	}
	s.busy += float64(lat) / 1e9
}

// timeTokens adds a judged request's token timings, as the live window
// does, and counts it as good when it succeeded within every limit.
func (s *StepStats) timeTokens(r *probe.Record, lat int64, lim controller.Limits) {
	good := r.OK() && (lim.MaxRT <= 0 || lat <= int64(lim.MaxRT))
	if r.FirstTokenNs > 0 {
		ttft := r.FirstTokenNs - r.ScheduledNs
		probe.RecordNs(s.TTFT, ttft)
		good = good && (lim.MaxTTFT <= 0 || ttft <= int64(lim.MaxTTFT))
		if r.OutputTokens > 1 {
			tpot := (r.EndNs - r.FirstTokenNs) / int64(r.OutputTokens-1)
			probe.RecordNs(s.TPOT, tpot)
			good = good && (lim.MaxTPOT <= 0 || tpot <= int64(lim.MaxTPOT))
		}
		if r.ITLMaxNs > 0 {
			probe.RecordNs(s.ITL, r.ITLMaxNs)
		}
	}
	if good {
		s.Good++
	}
}

func readSteps(dir string) ([]probe.StepRecord, error) {
	path := filepath.Join(dir, "steps.parquet")
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return probe.ReadParquet[probe.StepRecord](path)
}

// stepsFromRecords bounds each recorded step number by its requests'
// scheduled times, for a run that died before writing steps.parquet.
func stepsFromRecords(dir string) ([]probe.StepRecord, error) {
	type span struct {
		lo, hi  int64
		offered float64
		// last is the latest send; its lag estimates how far behind the
		// schedule was when the step ended.
		last, lastLag int64
	}
	spans := map[int32]*span{}
	err := probe.ReadRecords(dir, func(batch []probe.Record) error {
		for _, r := range batch {
			sp := spans[r.Step]
			if sp == nil {
				sp = &span{lo: math.MaxInt64, hi: math.MinInt64, offered: r.OfferedQPS}
				spans[r.Step] = sp
			}
			sp.lo, sp.hi = min(sp.lo, r.ScheduledNs), max(sp.hi, r.ScheduledNs)
			if r.SentNs >= sp.last {
				sp.last, sp.lastLag = r.SentNs, r.SendLag()
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rows := make([]probe.StepRecord, 0, len(spans))
	for n, sp := range spans {
		row := probe.StepRecord{Step: n, Phase: "recovered", StartNs: sp.lo, EndNs: sp.hi + 1, JudgedStartNs: sp.lo, JudgedEndNs: sp.hi + 1}
		// Closed-loop records carry the concurrency as their offer.
		row.OfferedQPS = sp.offered
		row.ScheduleLagNs = sp.lastLag
		rows = append(rows, row)
	}
	return rows, nil
}

// timeline accumulates the per-second series.
type timeline struct {
	sent, completed []int64
	failed          map[string][]int64
	p99             []*hdrhistogram.Histogram
}

func newTimeline() *timeline { return &timeline{failed: map[string][]int64{}} }

// newSecondHist is a timeline second's latency histogram: two significant
// digits are plenty for a plotted p99.
func newSecondHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 2)
}

func grow[T any](s []T, i int, zero func() T) []T {
	for len(s) <= i {
		s = append(s, zero())
	}
	return s
}

func (t *timeline) add(r *probe.Record) {
	zero := func() int64 { return 0 }
	if r.ScheduledNs >= 0 {
		i := int(r.ScheduledNs / 1e9)
		t.sent = grow(t.sent, i, zero)
		t.sent[i]++
	}
	if r.EndNs <= 0 {
		return
	}
	i := int(r.EndNs / 1e9)
	t.completed = grow(t.completed, i, zero)
	t.completed[i]++
	t.p99 = grow(t.p99, i, newSecondHist)
	probe.RecordNs(t.p99[i], r.Latency())
	if !r.OK() {
		k := r.FailureClass()
		t.failed[k] = grow(t.failed[k], i, zero)
		t.failed[k][i]++
	}
}

// merge adds another timeline's counts and histograms into t.
func (t *timeline) merge(o *timeline) {
	zero := func() int64 { return 0 }
	add := func(dst, src []int64) []int64 {
		if len(src) > 0 {
			dst = grow(dst, len(src)-1, zero)
		}
		for i, v := range src {
			dst[i] += v
		}
		return dst
	}
	t.sent = add(t.sent, o.sent)
	t.completed = add(t.completed, o.completed)
	for k, v := range o.failed {
		t.failed[k] = add(t.failed[k], v)
	}
	if len(o.p99) > 0 {
		t.p99 = grow(t.p99, len(o.p99)-1, newSecondHist)
	}
	for i, h := range o.p99 {
		t.p99[i].Merge(h)
	}
}

func (t *timeline) done() Timeline {
	n := max(len(t.sent), len(t.completed))
	pad := func(s []int64) []int64 { return grow(s, n-1, func() int64 { return 0 }) }
	out := Timeline{Sent: pad(t.sent), Completed: pad(t.completed), Failed: map[string][]int64{}, P99: make([]time.Duration, n)}
	for k, v := range t.failed {
		out.Failed[k] = pad(v)
	}
	for i, h := range t.p99 {
		if h.TotalCount() > 0 {
			out.P99[i] = time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
		}
	}
	return out
}
