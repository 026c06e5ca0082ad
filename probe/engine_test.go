package probe

import (
	"context"
	"errors"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"

	"github.com/capfinder/capfinder/datasets"
)

// fakeClient answers after a fixed delay without any network, and tracks
// the most requests it ever had in flight.
type fakeClient struct {
	delay    time.Duration
	status   int32
	hang     bool // wait for cancellation instead of answering
	inflight atomic.Int64
	peak     atomic.Int64
}

func (f *fakeClient) Do(ctx context.Context, _ datasets.Payload, rec *rundir.Record, clk Clock) {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if f.hang {
		<-ctx.Done()
		rec.EndNs = clk.Now()
		rec.Error = rundir.ErrCanceled
		return
	}
	t := time.NewTimer(f.delay)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		rec.EndNs = clk.Now()
		rec.Error = rundir.ErrCanceled
		return
	}
	rec.FirstByteNs = clk.Now()
	rec.EndNs = rec.FirstByteNs
	rec.Status = f.status
	if rec.Status == 0 {
		rec.Status = 200
	}
}

// memWriter keeps every record it is given.
type memWriter struct {
	mu   sync.Mutex
	recs []rundir.Record
}

func (m *memWriter) Write(recs []rundir.Record) error {
	m.mu.Lock()
	m.recs = append(m.recs, recs...)
	m.mu.Unlock()
	return nil
}

func newTestEngine(t *testing.T, c Client, w RecordWriter, requests int64) *Engine {
	t.Helper()
	s, err := NewSchedule("constant", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(EngineConfig{
		Client: c, Source: datasets.Repeat(nil), Schedule: s, Writer: w,
		Requests: requests, StopGrace: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	return e
}

func TestEngineOpenLoopSendsOnSchedule(t *testing.T) {
	fc := &fakeClient{delay: time.Millisecond}
	mw := &memWriter{}
	e := newTestEngine(t, fc, mw, 0)
	w, err := e.Step(context.Background(), Load{Rate: 200, Hold: time.Second, Warmup: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tot, err := e.Stop()
	if err != nil {
		t.Fatal(err)
	}
	// A constant schedule at 200/s schedules one request every 5 ms from
	// the step's start: exactly 200 in its first second. The step itself
	// ends when a timer fires, late by as much as the machine is busy, so
	// only a loose bound holds for what it sent in all.
	if n := scheduledWithin(mw.recs, 1, time.Second); n != 200 {
		t.Errorf("%d requests scheduled in the first second at 200/s, want 200", n)
	}
	if w.Sent < 195 || w.Sent > 300 {
		t.Errorf("sent %d in a 1 s step at 200/s, want about 200", w.Sent)
	}
	if tot.Sent != tot.Recorded || int64(len(mw.recs)) != tot.Sent {
		t.Errorf("totals %+v, writer got %d: every request must be recorded once", tot, len(mw.recs))
	}
	// The warm-up fifth is not judged: the samples are the requests
	// scheduled in the judged stretch, one per 5 ms.
	want := int64(w.Judged() / (5 * time.Millisecond))
	if w.Samples < want-1 || w.Samples > want+1 || w.Judged() < 790*time.Millisecond {
		t.Errorf("judged %d samples over %v, want %d (the step less its warm-up)", w.Samples, w.Judged(), want)
	}
	if p50 := rundir.Quantile(w.Latency, 0.5); p50 < time.Millisecond || p50 > 50*time.Millisecond {
		t.Errorf("p50 %v, want a little over the client's 1 ms", p50)
	}
	// Sends leave on time, sleeping to each: a generous bound, the exact
	// figures are the benchmark's (BENCHMARKS.md).
	if lag := rundir.Quantile(w.SendLag, 0.5); lag > 5*time.Millisecond {
		t.Errorf("send lag p50 %v, want well under 5 ms", lag)
	}
	for i, r := range mw.recs {
		if r.Step != 1 || r.OfferedQPS != 200 {
			t.Fatalf("record %d: step %d offered %g", i, r.Step, r.OfferedQPS)
		}
		if r.SentNs < r.ScheduledNs || r.EndNs < r.SentNs {
			t.Fatalf("record %d: times out of order: %+v", i, r)
		}
	}
	// Records arrive in completion order; in schedule order they are
	// exactly 5 ms apart.
	sched := make([]int64, len(mw.recs))
	for i, r := range mw.recs {
		sched[i] = r.ScheduledNs
	}
	slices.Sort(sched)
	for i := 1; i < len(sched); i++ {
		if gap := sched[i] - sched[i-1]; gap != 5_000_000 {
			t.Fatalf("gap %d ns between scheduled sends %d and %d, want 5 ms", gap, i-1, i)
		}
	}
}

func TestEngineStopsAtRequestBound(t *testing.T) {
	fc := &fakeClient{}
	mw := &memWriter{}
	e := newTestEngine(t, fc, mw, 50)
	_, err := e.Step(context.Background(), Load{Rate: 1000, Hold: 10 * time.Second})
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("step returned %v, want ErrExhausted", err)
	}
	tot, err := e.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if tot.Sent != 50 || tot.Recorded != 50 || len(mw.recs) != 50 {
		t.Errorf("totals %+v, recorded %d; want exactly 50", tot, len(mw.recs))
	}
}

func TestEngineDrainsTheLastRequestsOfABound(t *testing.T) {
	for _, c := range []struct {
		name         string
		client       *fakeClient
		ok, canceled int64
	}{
		// Answers take longer than Stop's grace: a run of 40 requests
		// still records 40 answers, all in the step's window.
		{"answered", &fakeClient{delay: 400 * time.Millisecond}, 40, 0},
		// Requests that never answer hold the step no longer than Drain.
		{"hanging", &fakeClient{hang: true}, 0, 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSchedule("constant", 1, 1)
			if err != nil {
				t.Fatal(err)
			}
			e, err := NewEngine(EngineConfig{
				Client: c.client, Source: datasets.Repeat(nil), Schedule: s, Writer: &memWriter{},
				Requests: c.ok + c.canceled, StopGrace: 200 * time.Millisecond, Drain: 5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			e.Start()
			start := time.Now()
			w, err := e.Step(context.Background(), Load{Concurrency: 8, Hold: time.Minute})
			took := time.Since(start)
			if !errors.Is(err, ErrExhausted) {
				t.Fatalf("step returned %v, want ErrExhausted", err)
			}
			tot, err := e.Stop()
			if err != nil {
				t.Fatal(err)
			}
			if tot.OK != c.ok || tot.Canceled != c.canceled || w.OK != c.ok {
				t.Errorf("totals %+v, window ok %d; want %d answered in the window, %d cancelled", tot, w.OK, c.ok, c.canceled)
			}
			if c.canceled > 0 && took < 5*time.Second {
				t.Errorf("step ended after %v with requests in flight, before the 5 s drain", took)
			}
		})
	}
}

func TestEngineStopsWhileSendingFast(t *testing.T) {
	// At 5000/s the gaps are shorter than the timer slop: the scheduler
	// never sleeps on its timer, and must still notice Stop.
	fc := &fakeClient{}
	e := newTestEngine(t, fc, &memWriter{}, 0)
	if _, err := e.Step(context.Background(), Load{Rate: 5000, Hold: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	done := make(chan Totals)
	go func() {
		tot, _ := e.Stop()
		done <- tot
	}()
	select {
	case tot := <-done:
		if tot.Sent != tot.Recorded {
			t.Errorf("sent %d, recorded %d", tot.Sent, tot.Recorded)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return while the scheduler was sending")
	}
}

func TestEngineClosedLoopHoldsConcurrency(t *testing.T) {
	fc := &fakeClient{delay: 5 * time.Millisecond}
	e := newTestEngine(t, fc, nil, 0)
	w, err := e.Step(context.Background(), Load{Concurrency: 4, Hold: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if p := fc.peak.Load(); p != 4 {
		t.Errorf("peak in flight %d, want the 4 workers", p)
	}
	// 4 workers × 0.5 s / 5 ms is at most 400; timers only make it fewer.
	if w.Completed < 40 || w.Completed > 404 {
		t.Errorf("completed %d, want up to 400", w.Completed)
	}
	if w.Sent < w.Completed {
		t.Errorf("sent %d < completed %d", w.Sent, w.Completed)
	}
	// The generator reports what it cost: some CPU, never more than the
	// machine's cores over the step, and its goroutines (at least the
	// scheduler, the collector and the 4 workers).
	if w.GenCPU <= 0 || w.GenCPU > time.Duration(runtime.NumCPU())*w.Duration() {
		t.Errorf("generator CPU %v over a %v step", w.GenCPU, w.Duration())
	}
	if w.Goroutines < 6 {
		t.Errorf("goroutines %d, want at least 6", w.Goroutines)
	}
}

func TestEngineCountsPendingAndCancelsOnStop(t *testing.T) {
	fc := &fakeClient{hang: true}
	mw := &memWriter{}
	e := newTestEngine(t, fc, mw, 0)
	w, err := e.Step(context.Background(), Load{Rate: 100, Hold: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing answers: every judged request is pending, aged by the cut.
	if w.Pending == 0 || w.Pending != w.Samples || w.OK != 0 {
		t.Errorf("pending %d samples %d ok %d: a hung target leaves every request pending", w.Pending, w.Samples, w.OK)
	}
	if max := time.Duration(w.Latency.Max()) * time.Microsecond; max < 400*time.Millisecond {
		t.Errorf("oldest pending latency %v, want about the step's 500 ms", max)
	}
	start := time.Now()
	tot, err := e.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %v with hung requests; it must cancel them after the grace", d)
	}
	if tot.Sent != int64(len(mw.recs)) || tot.Sent < 40 {
		t.Errorf("sent %d recorded %d", tot.Sent, len(mw.recs))
	}
	// Cancelled by the engine, not failed by the target.
	if tot.Canceled != tot.Sent || tot.Failed != 0 {
		t.Errorf("totals %+v, want every request counted as canceled", tot)
	}
	for _, r := range mw.recs {
		if r.Error != rundir.ErrCanceled {
			t.Fatalf("hung request recorded as %q, want canceled", r.Error)
		}
	}
}

func TestEngineSaturatesAtInFlightBound(t *testing.T) {
	fc := &fakeClient{delay: 100 * time.Millisecond}
	e := newTestEngine(t, fc, nil, 0)
	w, err := e.Step(context.Background(), Load{Rate: 500, Concurrency: 2, Hold: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if p := fc.peak.Load(); p > 2 {
		t.Errorf("peak in flight %d over the bound of 2", p)
	}
	if !w.Saturated || !w.Behind() || !w.Lagging(time.Millisecond) {
		t.Errorf("saturated=%v behind=%v lagging=%v: two slots cannot carry 500/s of 100 ms requests", w.Saturated, w.Behind(), w.Lagging(time.Millisecond))
	}
}

// A Poisson schedule that happens to draw fewer sends than rate × hold is
// on schedule all the same: behind means owing sends, not drawing few.
func TestEnginePoissonFewDrawsIsNotBehind(t *testing.T) {
	const rate = 200
	// A seed whose first second holds at most 180 arrivals, 10 % under
	// the rate: a count-based check would call the generator behind.
	var seed uint64
	for ; ; seed++ {
		s, err := NewSchedule("poisson", 1, seed)
		if err != nil {
			t.Fatal(err)
		}
		n, at := 0, time.Duration(0)
		for at += s.Gap(rate); at < time.Second; at += s.Gap(rate) {
			n++
		}
		if n <= 180 {
			break
		}
	}
	s, err := NewSchedule("poisson", 1, seed)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(EngineConfig{
		Client: &fakeClient{delay: time.Millisecond}, Source: datasets.Repeat(nil), Schedule: s,
		StopGrace: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	w, err := e.Step(context.Background(), Load{Rate: rate, Hold: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if w.Sent >= 0.97*rate {
		t.Fatalf("seed %d sent %d; the test wants a step that drew few sends", seed, w.Sent)
	}
	if w.Behind() {
		t.Errorf("seed %d: %d sent, schedule lag %v: a step on its Poisson schedule is not behind", seed, w.Sent, w.ScheduleLag)
	}
}

func TestEngineExtendCoversWholeStep(t *testing.T) {
	fc := &fakeClient{delay: time.Millisecond}
	e := newTestEngine(t, fc, nil, 0)
	w1, err := e.Step(context.Background(), Load{Rate: 200, Hold: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w2, err := e.Step(context.Background(), Load{Extend: true, Hold: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if w2.Step != w1.Step || w2.Start != w1.Start {
		t.Errorf("extended window is step %d from %v, want step %d from %v", w2.Step, w2.Start, w1.Step, w1.Start)
	}
	if w2.Samples < w1.Samples+50 || w2.Sent < 110 {
		t.Errorf("extended window has %d samples (first cut %d), sent %d", w2.Samples, w1.Samples, w2.Sent)
	}
}

func TestEngineStepsChangeRate(t *testing.T) {
	fc := &fakeClient{}
	mw := &memWriter{}
	e := newTestEngine(t, fc, mw, 0)
	for _, r := range []float64{100, 400} {
		if _, err := e.Step(context.Background(), Load{Rate: r, Hold: 250 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	// Each step's schedule starts afresh at its own rate.
	if a, b := scheduledWithin(mw.recs, 1, 250*time.Millisecond), scheduledWithin(mw.recs, 2, 250*time.Millisecond); a != 25 || b != 100 {
		t.Errorf("scheduled %d then %d in the steps' first 250 ms, want 25 then 100", a, b)
	}
}

// scheduledWithin counts the records of a step scheduled within d of the
// step's first.
func scheduledWithin(recs []rundir.Record, step int32, d time.Duration) int {
	first, n := int64(-1), 0
	for _, r := range recs {
		if r.Step == step && (first < 0 || r.ScheduledNs < first) {
			first = r.ScheduledNs
		}
	}
	for _, r := range recs {
		if r.Step == step && r.ScheduledNs-first < int64(d) {
			n++
		}
	}
	return n
}

func TestEnginePauseDrainsInFlight(t *testing.T) {
	fc := &fakeClient{delay: 50 * time.Millisecond}
	mw := &memWriter{}
	e := newTestEngine(t, fc, mw, 0)
	if _, err := e.Step(context.Background(), Load{Rate: 200, Hold: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	e.Pause(context.Background(), 5*time.Second)
	if n := fc.inflight.Load(); n != 0 {
		t.Errorf("%d requests in flight after the pause", n)
	}
	w, err := e.Step(context.Background(), Load{Rate: 100, Hold: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tot, err := e.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if w.Sent < 15 || tot.Sent != int64(len(mw.recs)) {
		t.Errorf("after a pause the next step sent %d; totals %+v, recorded %d", w.Sent, tot, len(mw.recs))
	}
}

func TestEngineCountsFailuresByClassAndStatus(t *testing.T) {
	fc := &fakeClient{delay: time.Millisecond, status: 503}
	e := newTestEngine(t, fc, &memWriter{}, 0)
	w, err := e.Step(context.Background(), Load{Rate: 200, Hold: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if w.Failed == 0 || w.Errors["status 503"] != w.Failed || w.OK != 0 {
		t.Errorf("failed %d ok %d errors %v, want every judged request under \"status 503\"", w.Failed, w.OK, w.Errors)
	}
}

// BenchmarkEngine measures what the engine itself costs per request:
// scheduling, a worker hand-off, the collector's histograms and a record
// written, against a client that answers at once.
func BenchmarkEngine(b *testing.B) {
	e, err := NewEngine(EngineConfig{
		Client: &fakeClient{}, Source: datasets.Repeat(nil), Writer: &discard{},
		MaxInFlight: 64, Requests: int64(b.N),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	e.Start()
	start := time.Now()
	// Closed loop: 64 workers send as fast as they are answered.
	if _, err := e.Step(context.Background(), Load{Concurrency: 64, Hold: time.Hour}); !errors.Is(err, ErrExhausted) {
		b.Fatal(err)
	}
	if _, err := e.Stop(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// discard is a RecordWriter that keeps nothing.
type discard struct{}

func (discard) Write([]rundir.Record) error { return nil }

func TestEngineRampsLinearly(t *testing.T) {
	for _, c := range []struct {
		name     string
		from, to float64
	}{{"rising from zero", 0, 400}, {"rising", 100, 300}, {"falling", 300, 100}} {
		t.Run(c.name, func(t *testing.T) {
			mw := &memWriter{}
			e := newTestEngine(t, &fakeClient{delay: time.Millisecond}, mw, 0)
			w, err := e.Step(context.Background(), Load{Rate: c.from, RateEnd: c.to, Hold: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Stop(); err != nil {
				t.Fatal(err)
			}
			mean := (c.from + c.to) / 2
			if w.Offered != mean {
				t.Errorf("window rate %g, want the ramp's mean %g", w.Offered, mean)
			}
			// On a constant schedule the n-th request is due when the
			// ramp's integral r0·t + (r1−r0)·t²/2 reaches n: count the
			// requests of each quarter against the integral's increase.
			var quarter [4]int
			for _, r := range mw.recs {
				if r.OfferedQPS != mean {
					t.Fatalf("record offered %g, want %g", r.OfferedQPS, mean)
				}
				if q := int(time.Duration(r.ScheduledNs) * 4 / time.Second); q < 4 {
					quarter[q]++
				}
			}
			integral := func(t float64) float64 { return c.from*t + (c.to-c.from)*t*t/2 }
			for q, n := range quarter {
				want := integral(float64(q+1)/4) - integral(float64(q)/4)
				if math.Abs(float64(n)-want) > 1.5 {
					t.Errorf("quarter %d: %d requests scheduled, want %.1f", q+1, n, want)
				}
			}
		})
	}
}

func TestEngineRampCutShortOffersWhatItRan(t *testing.T) {
	// Interrupted a quarter of the way up a 100→300/s ramp, the step
	// offered the mean of 100→150/s, not the planned mean of 200/s.
	e := newTestEngine(t, &fakeClient{delay: time.Millisecond}, &memWriter{}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	w, err := e.Step(ctx, Load{Rate: 100, RateEnd: 300, Hold: 2 * time.Second})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("step ended with %v, want the deadline", err)
	}
	if _, err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	ran := (w.End - w.Start).Seconds()
	want := 100 + 100*ran/2
	if math.Abs(w.Offered-want) > 1e-9*want || w.Offered >= 200 {
		t.Errorf("window rate %g after %.3f s of the ramp, want %g", w.Offered, ran, want)
	}
}

func TestEngineCountsTheBacklog(t *testing.T) {
	for _, c := range []struct {
		name       string
		client     *fakeClient
		start, end int64 // expected in flight at the judged start and the cut
	}{
		// Answered in 1 ms: about nothing in flight at 100/s.
		{"keeping up", &fakeClient{delay: time.Millisecond}, 0, 0},
		// Never answered: everything sent stays in flight.
		{"piling up", &fakeClient{hang: true}, 20, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEngine(t, c.client, &memWriter{}, 0)
			w, err := e.Step(context.Background(), Load{Rate: 100, Hold: time.Second, Warmup: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Stop(); err != nil {
				t.Fatal(err)
			}
			// A shared machine may delay a timer by many sends' worth.
			if d := w.InFlightStart - c.start; d < -1 || d > 30 {
				t.Errorf("%d in flight as the judged part began, want about %d", w.InFlightStart, c.start)
			}
			if d := w.InFlightEnd - c.end; d < -1 || d > 30 {
				t.Errorf("%d in flight at the cut, want about %d", w.InFlightEnd, c.end)
			}
		})
	}
}

func TestEngineRefusesBadRamps(t *testing.T) {
	e := newTestEngine(t, &fakeClient{}, &memWriter{}, 0)
	defer e.Stop()
	for _, l := range []Load{
		{Rate: 10, RateEnd: -1, Hold: time.Second},
		{Rate: 10, RateEnd: math.NaN(), Hold: time.Second},
		{Rate: math.Inf(1), RateEnd: 10, Hold: time.Second},
		{Rate: 10, RateEnd: 20},
	} {
		if _, err := e.Step(context.Background(), l); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}

// fullDisk accepts one batch and fails every later one, as a disk that
// filled up.
type fullDisk struct{ n atomic.Int64 }

var errDiskFull = errors.New("no space left on device")

func (f *fullDisk) Write([]rundir.Record) error {
	if f.n.Add(1) > 1 {
		return errDiskFull
	}
	return nil
}

// A failing writer ends the step at once, with an error that says so:
// load sent after the records stop being kept is load nobody can judge.
func TestEngineStopsOnAWriteError(t *testing.T) {
	e := newTestEngine(t, &fakeClient{delay: time.Millisecond}, &fullDisk{}, 0)
	begun := time.Now()
	_, err := e.Step(context.Background(), Load{Rate: 200, Hold: 20 * time.Second})
	if !errors.Is(err, ErrRecording) || !errors.Is(err, errDiskFull) {
		t.Errorf("step ended with %v, want a recording error naming the cause", err)
	}
	if took := time.Since(begun); took > 10*time.Second {
		t.Errorf("the step ran %v of its 20 s after the writer failed", took)
	}
	if _, err := e.Stop(); !errors.Is(err, errDiskFull) {
		t.Errorf("Stop returned %v, want the write error", err)
	}
}

// slowDisk takes its time with every batch, as a disk that cannot keep
// up with the generator.
type slowDisk struct{}

func (slowDisk) Write([]rundir.Record) error { time.Sleep(300 * time.Millisecond); return nil }

// A writer that cannot keep up holds the workers handing records over:
// the slots they keep are the generator's backpressure, not the target's,
// so the step is not saturated.
func TestEngineBackpressureIsNotTheTargets(t *testing.T) {
	e := newTestEngine(t, &fakeClient{}, slowDisk{}, 0)
	w, err := e.Step(context.Background(), Load{Rate: 20000, Concurrency: 64, Hold: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if w.Saturated {
		t.Errorf("a slow writer made the step saturated (the target blamed): sent %d, schedule lag %v", w.Sent, w.ScheduleLag)
	}
}
