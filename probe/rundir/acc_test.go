package rundir

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// records are a step's requests over its 10 s: some fail, some stream,
// and some are still in flight at its end.
func records(n int, seed uint64) []Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]Record, n)
	for i := range out {
		sched := rng.Int64N(int64(10 * time.Second))
		lat := int64(rng.ExpFloat64() * 50e6)
		if i%50 == 0 {
			lat += int64(2 * time.Second)
		}
		r := Record{Step: 1, ScheduledNs: sched, SentNs: sched + rng.Int64N(1e5), EndNs: sched + lat, Status: 200,
			BytesIn: 100, Events: 3, OutputTokens: 4, PromptTokens: 9, Seq: int64(i + 1)}
		if i%3 == 0 {
			r.FirstTokenNs = sched + lat/3
		}
		if i%17 == 0 {
			r.Status, r.Error = 503, ErrStatus
		}
		out[i] = r
	}
	return out
}

var bounds = Bounds{Start: 0, End: int64(10 * time.Second), JudgedStart: int64(time.Second), JudgedEnd: int64(9 * time.Second)}

func accOf(recs []Record) *Acc {
	a := NewAcc(1, bounds, Judging{Streams: true, MaxRT: 80 * time.Millisecond})
	for i := range recs {
		a.Add(&recs[i])
		a.Complete(&recs[i])
	}
	return a
}

// A step's records split between two accumulators, merged, give the
// statistics of one accumulator that saw them all; so do they through
// the wire's export and import.
func TestAccMergesAndTravels(t *testing.T) {
	recs := records(5000, 1)
	whole := accOf(recs).Stats(bounds.End, bounds.JudgedEnd, nil)
	a, b := accOf(recs[:2000]), accOf(recs[2000:])
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	same(t, "merged", a.Stats(bounds.End, bounds.JudgedEnd, nil), whole)

	snapA, err := accOf(recs[:2000]).s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	snapB, _ := accOf(recs[2000:]).s.Snapshot()
	// Through JSON, as on the wire.
	var wire [2]AccSnapshot
	for i, s := range []AccSnapshot{snapA, snapB} {
		b, _ := json.Marshal(s)
		if err := json.Unmarshal(b, &wire[i]); err != nil {
			t.Fatal(err)
		}
	}
	x, err := ImportAcc(wire[0], Judging{})
	if err != nil {
		t.Fatal(err)
	}
	y, err := ImportAcc(wire[1], Judging{})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Merge(y); err != nil {
		t.Fatal(err)
	}
	same(t, "imported", x.Stats(bounds.End, bounds.JudgedEnd, nil), whole)
	// A step that is over is read without copying its histograms.
	same(t, "final", accOf(recs).Final(bounds.End, bounds.JudgedEnd, nil), whole)
	if whole.Pending == 0 || whole.Failed == 0 || whole.TTFT.TotalCount() == 0 || whole.Good == 0 || whole.Good == whole.OK {
		t.Errorf("the test's step lacks pending, failed, streamed or slow requests: %+v", whole)
	}
}

// same fails unless two steps' statistics are equal in every count and
// histogram.
func same(t *testing.T, what string, got, want *StepStats) {
	t.Helper()
	gh, wh := got.hists(), want.hists()
	for i := range gh {
		if (*gh[i] == nil) != (*wh[i] == nil) || *gh[i] != nil && !reflect.DeepEqual((*gh[i]).Export(), (*wh[i]).Export()) {
			t.Errorf("%s: histogram %d differs", what, i)
		}
	}
	g, w := *got, *want
	for _, s := range []*StepStats{&g, &w} {
		s.Latency, s.Early, s.Late, s.SendLag, s.TTFT, s.TPOT, s.ITL = nil, nil, nil, nil, nil, nil, nil
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n%+v\nwant\n%+v", what, g, w)
	}
}

// A snapshot whose histograms have another geometry is refused: merged,
// it would drop values.
func TestImportRefusesAnotherGeometry(t *testing.T) {
	snap, err := accOf(records(100, 2)).s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := hdrhistogram.New(1, 1000, 2)
	b, _ := other.EncodeV2()
	snap.Histograms[0] = b
	if _, err := ImportAcc(snap, Judging{}); err == nil {
		t.Error("a histogram of another geometry was imported")
	}
	snap.Histograms = snap.Histograms[:3]
	if _, err := ImportAcc(snap, Judging{}); err == nil {
		t.Error("a snapshot short of histograms was imported")
	}
}

// A running step (live) judges the records it has, the tail scheduled
// before its actual judged end, and the requests in flight at the cut,
// as a recorded step with the same bounds judges the same records.
func TestAccLiveCutEqualsRecorded(t *testing.T) {
	recs := records(3000, 3)
	planned := int64(8 * time.Second)
	live := NewAcc(1, Bounds{Start: 0, End: Open, JudgedStart: bounds.JudgedStart, JudgedEnd: planned, Mid: bounds.JudgedStart + (planned-bounds.JudgedStart)/2}, Judging{Streams: true, MaxRT: 80 * time.Millisecond, KeepTail: true})
	var pending []Pending
	for i := range recs {
		r := &recs[i]
		if r.EndNs > bounds.End {
			first := r.FirstTokenNs
			if first > bounds.End {
				first = 0
			}
			pending = append(pending, Pending{Scheduled: r.ScheduledNs, FirstToken: first})
			continue
		}
		live.Add(r)
		live.Complete(r)
	}
	got := live.Stats(bounds.End, bounds.JudgedEnd, pending)
	recorded := NewAcc(1, Bounds{Start: 0, End: bounds.End, JudgedStart: bounds.JudgedStart, JudgedEnd: bounds.JudgedEnd, Mid: bounds.JudgedStart + (planned-bounds.JudgedStart)/2}, Judging{Streams: true, MaxRT: 80 * time.Millisecond})
	for i := range recs {
		recorded.Add(&recs[i])
		if recs[i].EndNs <= bounds.End {
			recorded.Complete(&recs[i])
		}
	}
	want := recorded.Stats(bounds.End, bounds.JudgedEnd, nil)
	// The live step does not know of the requests still in flight at its
	// end beyond the judged ones; the engine counts its sends.
	got.Sent = want.Sent
	same(t, "live", got, want)
}
