package analysis

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
)

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
	Steps []*rundir.StepStats
	// Records counts the rows read: OK + Failed + Canceled.
	Records, OK, Failed, Canceled int64
	// Streamed counts the requests with a first token or event;
	// Counted those whose output tokens were counted from chunks for want
	// of a usage report; Mismatched those whose usage disagreed with the
	// content chunks (a chunk may carry several tokens).
	Streamed, Counted, Mismatched int64
	// ServerSeries and ServerScrapes count the server's series and
	// scrapes (server.parquet).
	ServerSeries, ServerScrapes int
	// Prompts compares the prompt lengths asked with the server's
	// counts; Started and Turns count the conversations started and the
	// requests of conversations.
	Prompts        PromptCounts
	Started, Turns int64
	// Duplicates counts the load's rows recorded more than once (the
	// same seq and turn), DuplicateSeq the lowest seq among them; Gaps
	// the arrival numbers, from 1 to the largest recorded, that no first
	// turn holds. Step 0's calibration requests, numbered apart, are
	// left out.
	Duplicates, DuplicateSeq, Gaps int64
	Timeline                       Timeline
	// Meta is the key/value metadata of the first part (run start, URL,
	// mode, version).
	Meta map[string]string
	// Skipped says which parts could not be read whole, and why.
	Skipped []string
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

// ReadRun reads a recorded run: its steps' bounds from steps.parquet, and
// every request, streamed through one step accumulator per step (memory
// grows with the steps and seconds of the run, not its requests). A run
// without steps.parquet (one that was killed) is read with one step per
// recorded step number, bounded by its requests' scheduled times.
func ReadRun(src rundir.Source, opt ReadOptions) (*Run, error) {
	r := &Run{Dir: src.Dir(), Meta: src.Meta()}
	rows, err := src.Steps()
	switch {
	case errors.Is(err, rundir.ErrNoSteps):
		if rows, err = stepsFromRecords(src); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	// The calibration requests before the load are counted, not judged.
	rows = slices.DeleteFunc(rows, func(row rundir.StepRow) bool { return row.Phase == rundir.PhaseCalibrate })
	if len(rows) == 0 {
		return nil, fmt.Errorf("analysis: %s has no steps", r.Dir)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].StartNs < rows[j].StartNs })
	j := Judging(opt.Limits, r.Meta[rundir.MetaStreams] == "true")
	accs := make([]*rundir.Acc, len(rows))
	byStep := map[int32]*rundir.Acc{}
	ends := make([]int64, len(rows))
	for i := range rows {
		b := rows[i].Bounds()
		if opt.Warmup >= 0 {
			b.JudgedStart, b.Mid = min(b.Start+int64(opt.Warmup), b.JudgedEnd), 0
		}
		accs[i] = rundir.NewAcc(int(rows[i].Step), b, j)
		byStep[rows[i].Step] = accs[i]
		ends[i] = b.End
	}
	// stepAt is the step whose span holds time ns, if any.
	stepAt := func(ns int64) *rundir.Acc {
		i := sort.Search(len(ends), func(i int) bool { return ends[i] >= ns })
		if i < len(rows) && rows[i].StartNs <= ns {
			return accs[i]
		}
		return nil
	}
	tl := newTimeline()
	seqs := newSeqCheck()
	err = src.Records(func(batch []rundir.Record) error {
		for i := range batch {
			rec := &batch[i]
			r.count(rec)
			tl.add(rec)
			if rec.Step > 0 {
				seqs.add(rec.Seq, rec.Turn)
			}
			if a := stepAt(rec.EndNs); a != nil {
				a.Complete(rec)
			}
			if a := byStep[rec.Step]; a != nil {
				a.Add(rec)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.Duplicates, r.DuplicateSeq, r.Gaps = seqs.dups, seqs.firstDup, seqs.gaps()
	r.Skipped = src.Skipped()
	server, err := src.Server()
	if err != nil {
		r.Skipped = append(r.Skipped, fmt.Sprintf("%s: %v", rundir.ServerFile, err))
	}
	sortRows(server)
	series, scrapes := map[string]bool{}, map[int64]bool{}
	for _, row := range server {
		series[row.Series], scrapes[row.TimeNs] = true, true
	}
	r.ServerSeries, r.ServerScrapes = len(series), len(scrapes)
	for i, a := range accs {
		b := rows[i].Bounds()
		s := a.Final(b.End, b.JudgedEnd, nil)
		rows[i].SetFacts(s)
		s.Server = serverStats(server, b.Start, b.End)
		r.Steps = append(r.Steps, s)
	}
	r.Timeline = tl.done()
	return r, nil
}

// Judging is how the requests of a run with limits lim are judged; streams
// when they stream tokens or events.
func Judging(lim controller.Limits, streams bool) rundir.Judging {
	return rundir.Judging{Streams: streams, MaxRT: lim.MaxRT, MaxTTFT: lim.MaxTTFT, MaxTPOT: lim.MaxTPOT}
}

// PromptCounts sum the prompt tokens of a run's answered requests.
type PromptCounts struct {
	// Checked counts the load's first turns with both an asked length and
	// the server's count; Asked and Reported sum their tokens.
	Checked, Asked, Reported int64
	// Total and Cached sum the prompt tokens the server reported and
	// those it said its prefix cache held.
	Total, Cached int64
}

// count adds a record to the run's totals.
func (r *Run) count(rec *rundir.Record) {
	if rec.Conversation > 0 {
		r.Turns++
		if rec.Turn == 0 {
			r.Started++
		}
	}
	if rec.OK() && rec.PromptTokens > 0 {
		p := &r.Prompts
		p.Total += int64(rec.PromptTokens)
		p.Cached += int64(rec.CachedTokens)
		// Calibration (step 0) was sized before the server was asked.
		if rec.Step > 0 && rec.Turn == 0 && rec.PromptAsked > 0 {
			p.Checked++
			p.Asked += int64(rec.PromptAsked)
			p.Reported += int64(rec.PromptTokens)
		}
	}
	r.Records++
	switch {
	case rec.OK():
		r.OK++
	case rec.Error == rundir.ErrCanceled:
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
}

// stepsFromRecords bounds each recorded step number by its requests'
// scheduled times, for a run that died before writing steps.parquet: a
// step is judged on the requests scheduled in it and ends where the next
// began.
func stepsFromRecords(src rundir.Source) ([]rundir.StepRow, error) {
	type span struct {
		lo, hi  int64
		offered float64
		// last is the latest send; its lag estimates how far behind the
		// schedule was when the step ended.
		last, lastLag int64
	}
	spans := map[int32]*span{}
	var lastEnd int64
	err := src.Records(func(batch []rundir.Record) error {
		for _, r := range batch {
			lastEnd = max(lastEnd, r.EndNs)
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
	rows := make([]rundir.StepRow, 0, len(spans))
	for n, sp := range spans {
		phase := "recovered"
		if n == 0 {
			// Step 0 holds the calibration requests.
			phase = rundir.PhaseCalibrate
		}
		// Closed-loop records carry the concurrency as their offer.
		rows = append(rows, rundir.StepRow{
			Step: n, Phase: phase, OfferedQPS: sp.offered, ScheduleLagNs: sp.lastLag,
			StartNs: sp.lo, JudgedStartNs: sp.lo, JudgedEndNs: sp.hi + 1,
		})
	}
	// A step ended where the next began, the last where the last record
	// did: its requests still running then are judged at that age.
	sort.Slice(rows, func(i, j int) bool { return rows[i].StartNs < rows[j].StartNs })
	for i := range rows {
		rows[i].EndNs = max(lastEnd, rows[i].JudgedEndNs)
		if i+1 < len(rows) {
			rows[i].EndNs = max(rows[i+1].StartNs, rows[i].JudgedEndNs)
		}
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

func (t *timeline) add(r *rundir.Record) {
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
	rundir.RecordNs(t.p99[i], r.Latency())
	if !r.OK() {
		k := r.FailureClass()
		t.failed[k] = grow(t.failed[k], i, zero)
		t.failed[k][i]++
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
