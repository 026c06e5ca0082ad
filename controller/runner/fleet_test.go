package runner

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/capfinder/capfinder/probe/rundir"
)

// The windows of several agents, sent over the wire and merged, hold
// exactly what one accumulator of all their records holds: every count
// and every histogram value.
func TestMergedWindowsEqualAllRows(t *testing.T) {
	j := rundir.Judging{Streams: true, MaxRT: 80 * time.Millisecond}
	b := rundir.Bounds{Start: 0, End: int64(10 * time.Second), JudgedStart: int64(time.Second), JudgedEnd: int64(9 * time.Second)}
	const agents = 3
	all := rundir.NewAcc(1, b, j)
	accs := make([]*rundir.Acc, agents)
	for i := range accs {
		accs[i] = rundir.NewAcc(1, b, j)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for seq := int64(1); seq <= 3000; seq++ {
		sched := int64(float64(10*time.Second) * float64(seq) / 3001)
		lat := int64(rng.ExpFloat64() * float64(20*time.Millisecond))
		r := rundir.Record{Step: 1, Seq: seq, ScheduledNs: sched, SentNs: sched + int64(rng.IntN(200_000)),
			FirstTokenNs: sched + lat/3, EndNs: sched + lat, Status: 200, OutputTokens: 1 + int32(rng.IntN(50))}
		if rng.IntN(50) == 0 {
			r.Status = 503
		}
		for _, a := range []*rundir.Acc{all, accs[seq%agents]} {
			a.Add(&r)
			if r.EndNs <= b.End {
				a.Complete(&r)
			}
		}
	}
	var ws []*wireWindow
	for _, a := range accs {
		w, err := windowOf(a.Final(b.End, b.JudgedEnd, nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		line, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		var back wireWindow
		if err := json.Unmarshal(line, &back); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, &back)
	}
	got, err := mergeWindows(ws, j)
	if err != nil {
		t.Fatal(err)
	}
	want := all.Final(b.End, b.JudgedEnd, nil)
	gs, err := got.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	ws0, err := want.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range ws0.Counts {
		if gs.Counts[k] != v {
			t.Errorf("%s: merged %d, all rows %d", k, gs.Counts[k], v)
		}
	}
	if got.Errors["status 503"] != want.Errors["status 503"] || want.Errors["status 503"] == 0 {
		t.Errorf("503s: merged %d, all rows %d", got.Errors["status 503"], want.Errors["status 503"])
	}
	for i, h := range [][2]*hdrhistogram.Histogram{
		{got.Latency, want.Latency}, {got.Early, want.Early}, {got.Late, want.Late},
		{got.SendLag, want.SendLag}, {got.TTFT, want.TTFT}, {got.TPOT, want.TPOT},
	} {
		if h[1].TotalCount() == 0 || !h[0].Equals(h[1]) {
			t.Errorf("histogram %d: merged %d values, all rows %d, or they differ", i, h[0].TotalCount(), h[1].TotalCount())
		}
	}
	if gs.Counts["samples"] < 2000 {
		t.Fatalf("only %d samples judged", gs.Counts["samples"])
	}
}

// A histogram of another geometry is refused, not merged with values
// dropped.
func TestMergeRefusesAnotherGeometry(t *testing.T) {
	b := rundir.Bounds{End: int64(time.Second), JudgedEnd: int64(time.Second)}
	a := rundir.NewAcc(1, b, rundir.Judging{})
	a.Add(&rundir.Record{Step: 1, ScheduledNs: 1, EndNs: 1000, Status: 200})
	w, err := windowOf(a.Final(b.End, b.JudgedEnd, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Acc.Histograms[0] = w.Acc.Histograms[1] // the send-lag geometry
	if _, err := mergeWindows([]*wireWindow{w}, rundir.Judging{}); err == nil {
		t.Error("a latency histogram of another geometry was merged")
	}
}

func TestShareAddsUp(t *testing.T) {
	for n := range 20 {
		for agents := 1; agents <= 5; agents++ {
			sum, lo, hi := 0, n, 0
			for i := range agents {
				s := share(n, agents, i)
				sum, lo, hi = sum+s, min(lo, s), max(hi, s)
			}
			if sum != n || hi-lo > 1 {
				t.Fatalf("%d among %d: shares add to %d, from %d to %d", n, agents, sum, lo, hi)
			}
		}
	}
}
