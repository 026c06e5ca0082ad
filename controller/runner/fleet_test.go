package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
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

// runFleet runs s as the coordinator of n agents on a loopback listener,
// calling agents with its address, and returns how the run ended and
// the seconds it saw.
func runFleet(t *testing.T, s Spec, n int, agents func(addr string)) (Done, []rundir.Second) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(s, Options{Fleet: &Fleet{Agents: n, Listener: ln, Wait: 20 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go agents(ln.Addr().String())
	var (
		done    Done
		seconds []rundir.Second
	)
	for ev := range r.Run(ctx) {
		switch ev := ev.(type) {
		case Done:
			done = ev
		case Tick:
			seconds = append(seconds, ev.Second)
		}
	}
	return done, seconds
}

// slowClock is an agent whose every answer to a ping takes 30 ms: its
// clock cannot be placed within 10 ms.
func slowClock(t *testing.T, addr string) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	p := newPeer(conn)
	p.send(message{Kind: "hello", Index: 0})
	for {
		m, err := p.read()
		if err != nil || m.Kind != "ping" {
			return
		}
		time.Sleep(30 * time.Millisecond)
		p.send(message{Kind: "pong", Sent: m.Sent, Wall: time.Now().UnixNano()})
	}
}

// A run whose agent's clock cannot be placed within what a step's
// windows need is refused with one line naming the agent.
func TestFleetRefusesAClockItCannotPlace(t *testing.T) {
	s := spec(t, serve(t), rundir.ModeRate)
	s.Rate = 50
	done, _ := runFleet(t, s, 1, func(addr string) { slowClock(t, addr) })
	if done.Err == nil || !strings.Contains(done.Err.Error(), "agent 0's clock cannot be placed within 10ms") {
		t.Fatalf("run ended with %v, want its agent's clock refused", done.Err)
	}
}

// An agent that connects once the run began, as a restarted one would,
// is refused and says so; the run goes on with its agents.
func TestFleetRefusesALateAgent(t *testing.T) {
	s := spec(t, serve(t), rundir.ModeRate)
	s.Rate, s.Duration = 100, 3*time.Second
	refused := make(chan error, 1)
	done, _ := runFleet(t, s, 2, func(addr string) {
		for i := range 2 {
			go RunAgent(context.Background(), AgentOptions{Coordinator: addr, Index: i, Out: filepath.Join(filepath.Dir(s.Out), fmt.Sprint("agent", i))})
		}
		time.Sleep(time.Second)
		refused <- RunAgent(context.Background(), AgentOptions{Coordinator: addr, Index: 1, Out: t.TempDir()})
	})
	if done.Err != nil {
		t.Fatalf("the run failed: %v", done.Err)
	}
	if err := <-refused; err == nil || !strings.Contains(err.Error(), "cannot take part") {
		t.Errorf("a late agent got %v, want refused", err)
	}
	// The agents wrote into their own directories: the run says where its
	// records are, and gathering them explains it.
	if w := done.Result.Summary.Warnings; len(w) == 0 || !strings.Contains(w[0], "capfinder merge") {
		t.Errorf("the coordinator's summary warns %q, want the agents' records named", w)
	}
	if done.Result.Summary.Requests.Sent < 200 {
		t.Errorf("%d requests sent by 2 agents in 3 s at 100/s", done.Result.Summary.Requests.Sent)
	}
}

// A closed loop's workers are shared among the agents, and the step
// counts them all; the run's seconds are the agents' merged.
func TestFleetSharesAClosedLoop(t *testing.T) {
	s := spec(t, serve(t), rundir.ModeConcurrency)
	s.Concurrency, s.Duration, s.StepDuration = 5, 3*time.Second, 3*time.Second
	done, seconds := runFleet(t, s, 2, func(addr string) {
		for i := range 2 {
			go RunAgent(context.Background(), AgentOptions{Coordinator: addr, Index: i, Out: s.Out})
		}
	})
	if done.Err != nil {
		t.Fatalf("the run failed: %v", done.Err)
	}
	sum := done.Result.Summary
	if len(sum.Steps) == 0 || sum.Steps[0].Concurrency != 5 || sum.Requests.Sent < 50 {
		t.Fatalf("steps %+v, requests %+v: want one step of 5 workers", sum.Steps, sum.Requests)
	}
	var done2 int64
	for _, sec := range seconds {
		done2 += sec.Done
		if sec.Done > 0 && (sec.P99Ms <= 0 || sec.Step != 1) {
			t.Errorf("second %+v: answers without a latency, or outside the step", sec)
		}
	}
	if len(seconds) < 2 || done2 < sum.Requests.Sent/3 {
		t.Errorf("%d seconds seen, %d answers in them, of %d sent", len(seconds), done2, sum.Requests.Sent)
	}
}
