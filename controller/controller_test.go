package controller

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	lim := Limits{MaxRT: 100 * time.Millisecond, Quantile: 0.99, FaultTolerate: 0.01, MinTail: 5}
	need := lim.MinSamples() // 500
	for _, tc := range []struct {
		why   string
		w     Window
		want  Verdict
		limit Limit
	}{
		{"every limit holds with samples enough", Window{Samples: need, Latency: 50 * time.Millisecond}, Pass, LimitNone},
		{"the quantile is over MaxRT", Window{Samples: need, Latency: 150 * time.Millisecond, OverRT: 10}, Fail, LimitMaxRT},
		{"errors over the budget by more than chance", Window{Samples: 1000, Failures: 20, Latency: time.Millisecond}, Fail, LimitFault},
		{"errors over the budget within chance: hold longer", Window{Samples: 1000, Failures: 11, Latency: time.Millisecond}, Short, LimitSamples},
		{"errors exactly at the budget pass", Window{Samples: 1000, Failures: 10, Latency: time.Millisecond}, Pass, LimitNone},
		{"299 samples none over the limit prove p99 at 95 %", Window{Samples: 299, Latency: time.Millisecond}, Pass, LimitNone},
		{"298 do not", Window{Samples: 298, Latency: time.Millisecond}, Short, LimitSamples},
		{"a pass whose latency is still climbing is not proven", Window{Samples: need, Latency: 50 * time.Millisecond, Rising: true}, Short, LimitSamples},
		{"one over the limit needs 473", Window{Samples: 472, OverRT: 1, Latency: time.Millisecond}, Short, LimitSamples},
		{"few samples but failures beyond any budget", Window{Samples: 100, Failures: 50}, Fail, LimitFault},
		{"few samples but more slow ones than p99 allows of 500", Window{Samples: 100, OverRT: 6}, Fail, LimitMaxRT},
		{"few samples with a few slow ones is not yet conclusive", Window{Samples: 100, OverRT: 2}, Short, LimitSamples},
		{"the generator fell behind on its own", Window{Samples: need, Behind: true, Latency: 150 * time.Millisecond}, Invalid, LimitGenerator},
		{"late sends do not spoil a pass: the lag is inside the latency", Window{Samples: need, Lagging: true, Latency: 50 * time.Millisecond}, Pass, LimitNone},
		{"late sends that explain a latency failure blame the generator", Window{Samples: need, Lagging: true, SendLag: 60 * time.Millisecond, Latency: 150 * time.Millisecond, OverRT: 20}, Invalid, LimitGenerator},
		{"a latency failure far beyond the send lag is the target's", Window{Samples: need, Lagging: true, SendLag: 2 * time.Millisecond, Latency: 150 * time.Millisecond, OverRT: 20}, Fail, LimitMaxRT},
		{"late sends with an error failure are the target's", Window{Samples: 1000, Failures: 50, Lagging: true}, Fail, LimitFault},
		{"behind because the target held every slot and broke a limit", Window{Samples: need, Behind: true, Saturated: true, Latency: 150 * time.Millisecond, OverRT: 20}, Fail, LimitMaxRT},
		{"behind and saturated with limits holding proves nothing", Window{Samples: need, Behind: true, Saturated: true, Latency: time.Millisecond}, Invalid, LimitGenerator},
		// 875/s against 800/s served for 4 s: 300 more in flight.
		{"a backlog grown by the excess of the offer", steady(875, 4, 100, 400), Fail, LimitSaturation},
		{"a level backlog keeps up", steady(875, 4, 100, 110), Pass, LimitNone},
		// 3 % of 3500 is 105; the noise of 270 in flight 3·√540 = 70.
		{"growth within 3 % of the requests and the count's noise", steady(875, 4, 100, 270), Pass, LimitNone},
		{"growth beyond them", steady(875, 4, 100, 290), Fail, LimitSaturation},
		{"a backlog grown on few samples is conclusive", Window{Offered: 100, Duration: time.Second, Samples: 100, InFlightEnd: 60}, Fail, LimitSaturation},
	} {
		v, l := lim.Judge(tc.w)
		if v != tc.want || l != tc.limit {
			t.Errorf("%s: got %v/%q, want %v/%q", tc.why, v, l, tc.want, tc.limit)
		}
	}
	// Without a latency limit, latencies of seconds: answers of 20 s at
	// 2/s after 3 s of warm-up climb from empty for 20 s, 12 s of it in
	// the judged part; a ramp from 10 to 50/s with answers of 2 s holds
	// 80 more in flight at its end.
	loose := Limits{Quantile: 0.99, FaultTolerate: 0.01, MinTail: 5}
	for _, w := range []Window{
		{Offered: 2, Duration: 12 * time.Second, Warmup: 3 * time.Second, Samples: need, Latency: 20 * time.Second, InFlightStart: 6, InFlightEnd: 30},
		{Offered: 30, RateEnd: 50, Duration: 10 * time.Second, Samples: need, Latency: 2 * time.Second, InFlightStart: 20, InFlightEnd: 100},
	} {
		if v, l := loose.Judge(w); v != Pass {
			t.Errorf("%+v: %v/%q; want a climb that latency explains to pass", w, v, l)
		}
		w.InFlightEnd += w.Samples / 5
		if v, l := loose.Judge(w); v != Fail || l != LimitSaturation {
			t.Errorf("%+v: %v/%q; want growth beyond the climb to fail", w, v, l)
		}
	}
	ttft := Limits{Quantile: 0.9, MaxTTFT: time.Second, MaxTPOT: 50 * time.Millisecond, MinTail: 5}
	if v, l := ttft.Judge(Window{Samples: 100, TTFT: 2 * time.Second, OverTTFT: 30}); v != Fail || l != LimitTTFT {
		t.Errorf("TTFT over its limit: %v/%q", v, l)
	}
	if v, l := ttft.Judge(Window{Samples: 100, TPOT: 60 * time.Millisecond, OverTPOT: 30}); v != Fail || l != LimitTPOT {
		t.Errorf("TPOT over its limit: %v/%q", v, l)
	}
}

// steady is a 1 s warm-up and a judged part of d seconds at rate with
// latencies of 10 ms, from start to end requests in flight.
func steady(rate float64, d int, start, end int) Window {
	n := int(rate) * d
	return Window{Offered: rate, Achieved: rate, Duration: time.Duration(d) * time.Second, Warmup: time.Second,
		Samples: n, Latency: 10 * time.Millisecond, InFlightStart: start, InFlightEnd: end}
}

// search is one plant with its limits and the truth a search must find:
// auto starts at start with steps of hold (10/s and 5 s when zero) and
// must land within tol of the truth (2 % when zero).
type search struct {
	name  string
	lim   Limits
	plant func(seed uint64) plant
	truth float64
	start float64
	hold  time.Duration
	tol   float64
}

func searches() []search {
	q := 0.99
	m := mmc{c: 8, mu: 250, q: q, maxRT: 40 * time.Millisecond}
	ramp0 := ramp{knee: 300, slope: 0.002}
	c := cliff{knee: 740, base: 13 * time.Millisecond, maxRT: 50 * time.Millisecond}
	ttft := time.Second
	return []search{
		{
			name:  "M/M/8 under p99 latency",
			lim:   Limits{MaxRT: m.maxRT, Quantile: q, FaultTolerate: 0.001, MinTail: 5},
			plant: func(seed uint64) plant { p := m; p.rng = rand.New(rand.NewPCG(seed, 1)); return &p },
			truth: m.limit(m.maxRT, q),
		},
		{
			name:  "hard rate limit",
			lim:   Limits{Quantile: q, FaultTolerate: 0.001, MinTail: 5},
			plant: func(seed uint64) plant { return &rateLimit{L: 740, rng: rand.New(rand.NewPCG(seed, 2))} },
			truth: 740,
		},
		{
			name:  "error-rate ramp",
			lim:   Limits{Quantile: q, FaultTolerate: 0.01, MinTail: 5},
			plant: func(seed uint64) plant { p := ramp0; p.rng = rand.New(rand.NewPCG(seed, 3)); return &p },
			truth: ramp0.limit(0.01),
		},
		{
			name:  "latency cliff under p99",
			lim:   Limits{MaxRT: c.maxRT, Quantile: q, FaultTolerate: 0.001, MinTail: 5},
			plant: func(seed uint64) plant { p := c; p.rng = rand.New(rand.NewPCG(seed, 4)); return &p },
			truth: c.limit(),
		},
		{
			name:  "batching LLM replica under TTFT p99, Poisson",
			lim:   Limits{MaxTTFT: ttft, Quantile: q, FaultTolerate: 0.001, MinTail: 5},
			plant: func(seed uint64) plant { return newBatching(seed, ttft) },
			truth: batchingTruth1s(),
			// Steps of 15 s see fewer of the rare queue excursions that
			// decide a two-minute run's p99, so answers lean high: the
			// goal of ±5 % is measured by `make bench-search`; this
			// guards against the 8-39 % errors of a search that ignored
			// the batch filling.
			start: 1, hold: 15 * time.Second, tol: 0.08,
		},
	}
}

func runAuto(t testing.TB, s search, seed uint64, bisect bool) Result {
	t.Helper()
	start, hold := s.start, s.hold
	if start == 0 {
		start = 10
	}
	a := NewAuto(AutoConfig{Start: start, Max: 100000, Hold: hold, Limits: s.lim, Bisect: bisect})
	res, err := run(a, s.lim, time.Hour, s.plant(seed))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// run runs c against p within budget, telling a plant that drains after
// a failed step each verdict.
func run(c Controller, lim Limits, budget time.Duration, p plant) (Result, error) {
	var observe func(Step)
	if j, ok := p.(interface{ judged(Step) }); ok {
		observe = j.judged
	}
	return Run(context.Background(), c, lim, budget, stepFunc(p), observe)
}

// loadOf is how long a search held load, drains included.
func loadOf(res Result) time.Duration {
	var d time.Duration
	for _, s := range res.Steps {
		d += s.Decision.Hold + s.Window.Drained
	}
	return d
}

func TestAutoConvergesOnPlants(t *testing.T) {
	for _, s := range searches() {
		for seed := uint64(1); seed <= 10; seed++ {
			res := runAuto(t, s, seed, false)
			if res.Status != Converged {
				t.Errorf("%s seed %d: status %v", s.name, seed, res.Status)
			}
			tol := s.tol
			if tol == 0 {
				tol = 0.02
			}
			if e := math.Abs(res.Capacity-s.truth) / s.truth; e > tol {
				t.Errorf("%s seed %d: capacity %.1f, truth %.1f (off %.1f %%)", s.name, seed, res.Capacity, s.truth, 100*e)
			}
			if res.High < res.Capacity || res.High > res.Capacity*(1+tol+0.01) {
				t.Errorf("%s seed %d: bracket [%.1f, %.1f] is not within precision", s.name, seed, res.Capacity, res.High)
			}
		}
	}
}

// TestAutoBeatsBisection measures the narrowing against plain bisection
// over the same plants and seeds, and scan at comparable resolution. Near
// a latency limit interpolation lands within a percent of the truth but
// still needs a pass and a fail around it, so it ties with bisection
// there; against error limits it saves a fifth of the steps.
func TestAutoBeatsBisection(t *testing.T) {
	var autoAll, bisectAll int
	defer func() {
		t.Logf("all plants: auto %d steps, bisection %d", autoAll, bisectAll)
		if autoAll >= bisectAll {
			t.Errorf("auto took %d steps over all plants, plain bisection %d", autoAll, bisectAll)
		}
	}()
	for _, s := range searches() {
		var auto, bisect, scan int
		for seed := uint64(1); seed <= 10; seed++ {
			auto += len(runAuto(t, s, seed, false).Steps)
			bisect += len(runAuto(t, s, seed, true).Steps)
			sc := NewScan(ScanConfig{Min: 10, Max: 100000, Delta: s.truth * 0.02, Interval: 5 * time.Second, Action: Stop})
			res, err := run(sc, s.lim, time.Hour, s.plant(seed))
			if err != nil {
				t.Fatal(err)
			}
			// Scan never ends by itself after a failure with Stop: count the
			// steps up to its first failure.
			for i, st := range res.Steps {
				if st.Verdict == Fail {
					scan += i + 1
					break
				}
			}
		}
		t.Logf("%s: steps over 10 seeds: auto %d, bisection %d, scan %d", s.name, auto, bisect, scan)
		autoAll += auto
		bisectAll += bisect
		if auto >= scan {
			t.Errorf("%s: auto took %d steps, scan %d", s.name, auto, scan)
		}
	}
}

// scanRateLimit scans for 300 s, from 100/s up by 50/s every 10 s, a
// plant that fails over 420 req/s.
func scanRateLimit(t *testing.T, action FaultAction) Result {
	t.Helper()
	p := &rateLimit{L: 420, rng: rand.New(rand.NewPCG(1, 1))}
	lim := Limits{Quantile: 0.99, FaultTolerate: 0.001, MinTail: 5}
	sc := NewScan(ScanConfig{Min: 100, Delta: 50, Interval: 10 * time.Second, Action: action})
	res, err := Run(context.Background(), sc, lim, 300*time.Second, stepFunc(p), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestScanStopHoldsLastPass(t *testing.T) {
	res := scanRateLimit(t, Stop)
	if res.Status != OutOfBudget {
		t.Errorf("status %v: stop holds until the budget ends", res.Status)
	}
	// 100, 150, …, 400 pass, 450 fails; 400 is held from then on.
	if res.Capacity != 400 || res.High != 450 || res.LimitedBy != LimitFault {
		t.Errorf("capacity %v high %v by %q, want 400, 450, fault", res.Capacity, res.High, res.LimitedBy)
	}
	failed := false
	for _, s := range res.Steps {
		if failed && (s.Decision.Rate != 400 || s.Decision.Phase != "hold") {
			t.Errorf("step %d after the failure offers %v (%s), want to hold 400", s.Index, s.Decision.Rate, s.Decision.Phase)
		}
		failed = failed || s.Verdict == Fail
	}
	if len(res.Steps) != 30 {
		t.Errorf("%d steps of 10 s in 300 s", len(res.Steps))
	}
}

func TestScanReviseTracksTheLimit(t *testing.T) {
	res := scanRateLimit(t, Revise)
	failed, backedOff := false, false
	for _, s := range res.Steps {
		if failed {
			// After the first failure the rate stays within a delta of the
			// limit: it backs off below it and tracks back up.
			if s.Decision.Rate < 350 || s.Decision.Rate > 450 {
				t.Errorf("step %d offers %v after the failure, far from the limit 420", s.Index, s.Decision.Rate)
			}
			if s.Decision.Phase == "backoff" && s.Verdict == Pass {
				backedOff = true
			}
		}
		failed = failed || s.Verdict == Fail
	}
	if !failed || !backedOff {
		t.Errorf("revise must fail, back off and pass again (failed %v, passed after backoff %v)", failed, backedOff)
	}
}

func TestRunExtendsInconclusiveSequentialSteps(t *testing.T) {
	// At 50/s a 5 s step judges 200 requests, under the 299 that prove a
	// p99 limit at 95 % when none is over it. Latencies of 5 ms against
	// 8 ms are not far inside the limit.
	lim := Limits{Quantile: 0.99, FaultTolerate: 0.001, MinTail: 5, MaxRT: 8 * time.Millisecond}
	for _, c := range []struct {
		why        string
		sequential bool
		extended   bool
	}{
		{"a sequential step is held until its evidence decides", true, true},
		{"a fixed step keeps its length and is judged on what it measured", false, false},
	} {
		p := &rateLimit{L: 1000, rng: rand.New(rand.NewPCG(1, 1))}
		var extends int
		sf := stepFunc(p)
		res, err := Run(context.Background(), &Fixed{D: Decision{Rate: 50, Hold: 5 * time.Second, Sequential: c.sequential}}, lim, 20*time.Second,
			func(ctx context.Context, d Decision) (Window, error) {
				if d.Extend {
					extends++
				}
				return sf(ctx, d)
			}, nil)
		if err != nil {
			t.Fatal(err)
		}
		first := res.Steps[0]
		if (extends > 0) != c.extended || first.Verdict != Pass || first.Conclusive != c.extended {
			t.Errorf("%s: extends %d, first step %v (conclusive %v) with %d samples", c.why, extends, first.Verdict, first.Conclusive, first.Window.Samples)
		}
		if c.extended && first.Window.Samples < 299 {
			t.Errorf("%s: %d samples, under the 299 that prove the limit", c.why, first.Window.Samples)
		}
	}
}

// A sequential step far inside every limit says "higher" on few samples
// and ends at the first look that has them, before its hold; it never
// stands as the capacity.
func TestFarInsideSaysHigher(t *testing.T) {
	lim := Limits{Quantile: 0.99, FaultTolerate: 0.001, MaxRT: time.Second}
	p := &rateLimit{L: 1000, rng: rand.New(rand.NewPCG(1, 1))}
	res, err := Run(context.Background(), &Fixed{D: Decision{Rate: 4, Hold: 5 * time.Second, Sequential: true, Phase: PhaseGrow}}, lim, 5*time.Second, stepFunc(p), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := res.Steps[0]
	if st.Verdict != Pass || !st.Higher || st.Conclusive || st.Decision.Hold >= 5*time.Second || st.Window.Samples < MinHigher {
		t.Errorf("step %+v: want a pass that says higher on %d samples, held under 5 s", st, MinHigher)
	}
	if c := (Result{Steps: res.Steps[:1]}).Settle(lim).Capacity; c != 0 {
		t.Errorf("capacity %v from a step that only said higher", c)
	}
}

func TestRunClampsToMaxQPS(t *testing.T) {
	p := &rateLimit{L: 1e9, rng: rand.New(rand.NewPCG(1, 1))}
	lim := Limits{Quantile: 0.99, FaultTolerate: 0.001, MinTail: 5, MaxQPS: 1000}
	res, err := Run(context.Background(), NewAuto(AutoConfig{Start: 100, Max: 1e6, Limits: lim}), lim, time.Hour, stepFunc(p), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Steps {
		if s.Decision.Rate > 1000 {
			t.Errorf("step %d offers %v over max-qps", s.Index, s.Decision.Rate)
		}
	}
	if res.Capacity != 1000 || res.LimitedBy != LimitMaxQPS {
		t.Errorf("capacity %v limited by %q, want 1000 by max_qps", res.Capacity, res.LimitedBy)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &rateLimit{L: 1e9, rng: rand.New(rand.NewPCG(1, 1))}
	n := 0
	// One sample beyond p99 is enough here: no step is held longer.
	lim := Limits{Quantile: 0.99, FaultTolerate: 0.001, MinTail: 1}
	var seen []Step
	res, err := Run(ctx, NewAuto(AutoConfig{Start: 100}), lim, time.Hour,
		func(ctx context.Context, d Decision) (Window, error) {
			n++
			w := p.step(d)
			if n == 3 {
				cancel()
				return w, ctx.Err()
			}
			return w, nil
		}, func(s Step) { seen = append(seen, s) })
	if err != nil || res.Status != Stopped {
		t.Fatalf("err %v status %v, want no error and stopped", err, res.Status)
	}
	// The cut step does not count as a pass.
	if res.Capacity != 200 || !res.Steps[2].Cut {
		t.Errorf("capacity %v, want 200 (the cut step at 400 does not count)", res.Capacity)
	}
	// Every judged step, the cut one too, was reported as it happened.
	if len(seen) != len(res.Steps) || !seen[len(seen)-1].Cut {
		t.Errorf("observed %d steps, want all %d with the last one cut", len(seen), len(res.Steps))
	}
}

func TestRunEndsOnErrDone(t *testing.T) {
	p := &rateLimit{L: 1e9, rng: rand.New(rand.NewPCG(1, 1))}
	n := 0
	res, err := Run(context.Background(), &Fixed{D: Decision{Rate: 200, Hold: 5 * time.Second}}, DefaultLimits(), time.Hour,
		func(ctx context.Context, d Decision) (Window, error) {
			n++
			if n == 2 {
				return p.step(d), ErrDone
			}
			return p.step(d), nil
		}, nil)
	if err != nil || res.Status != Finished || len(res.Steps) != 2 {
		t.Fatalf("err %v status %v steps %d", err, res.Status, len(res.Steps))
	}
	boom := errors.New("boom")
	_, err = Run(context.Background(), &Fixed{D: Decision{Rate: 200, Hold: time.Second}}, DefaultLimits(), time.Hour,
		func(context.Context, Decision) (Window, error) { return Window{}, boom }, nil)
	if !errors.Is(err, boom) {
		t.Errorf("a step error must come back wrapped, got %v", err)
	}
}

func TestAutoStopsAtGeneratorLimit(t *testing.T) {
	res, err := Run(context.Background(), NewAuto(AutoConfig{Start: 100}), DefaultLimits(), time.Hour,
		func(_ context.Context, d Decision) (Window, error) {
			n := samplesOf(d.Rate, d.Hold)
			// This generator cannot send more than 1000/s.
			return Window{Offered: d.Rate, Samples: n, Latency: time.Millisecond, Behind: d.Rate > 1000}, nil
		}, nil)
	if err != nil || res.Status != GeneratorBound || res.Capacity != 800 || res.LimitedBy != LimitGenerator {
		t.Errorf("err %v status %v capacity %v by %q; want generator-bound at 800", err, res.Status, res.Capacity, res.LimitedBy)
	}
	// The spoiled step was tried 1 + maxRetries times before giving up.
	tries := 0
	for _, s := range res.Steps {
		if s.Decision.Rate == 1600 {
			tries++
		}
	}
	if tries != 1+maxRetries {
		t.Errorf("1600/s tried %d times, want %d", tries, 1+maxRetries)
	}
}

func TestRunRetriesAGeneratorHiccup(t *testing.T) {
	p := &rateLimit{L: 1000, rng: rand.New(rand.NewPCG(1, 1))}
	lim := DefaultLimits()
	lim.MaxRT = 100 * time.Millisecond
	spoiled := false
	res, err := Run(context.Background(), NewAuto(AutoConfig{Start: 100}), lim, time.Hour,
		func(_ context.Context, d Decision) (Window, error) {
			w := p.step(d)
			// The first step at 200/s had late sends (a pause in the
			// generator of most of a second) and its latency suffered.
			if d.Rate == 200 && !spoiled {
				spoiled = true
				w.Lagging, w.Latency, w.SendLag = true, time.Second, 950*time.Millisecond
				w.OverRT = w.Samples
			}
			return w, nil
		}, nil)
	if err != nil || res.Status != Converged {
		t.Fatalf("err %v status %v, want the search to go on past one spoiled step", err, res.Status)
	}
	if res.Steps[1].Verdict != Invalid || res.Steps[2].Decision.Rate != res.Steps[1].Decision.Rate {
		t.Errorf("step 2 %v at %v, step 3 at %v: want the spoiled step repeated", res.Steps[1].Verdict, res.Steps[1].Decision.Rate, res.Steps[2].Decision.Rate)
	}
	// 1000/s answered, the excess rejected: the budget of 0.1 % holds up
	// to 1001/s.
	if res.Capacity < 980 || res.Capacity > 1001.001*1.002 {
		t.Errorf("capacity %v, want within 2 %% under 1001", res.Capacity)
	}
}

func TestSettleBoundsHighByWhatAnOverloadedStepCompleted(t *testing.T) {
	step := func(rate, achieved float64, v Verdict) Step {
		return Step{Decision: Decision{Rate: rate}, Verdict: v, Limit: LimitMaxRT,
			Window: Window{Offered: rate, Achieved: achieved, Samples: 1000}}
	}
	for _, c := range []struct {
		name  string
		fail  Step
		wantH float64
	}{
		// Offered 800, completed 400: nothing above 400/0.97 is sustainable.
		{"overloaded", step(800, 400, Fail), 400 / KeepUp},
		// Kept up but too slow: the failing rate itself is the bound.
		{"slow but keeping up", step(800, 795, Fail), 800},
		// Completed less than the passing rate: the bracket closes on it.
		{"completed under the pass", step(800, 380, Fail), 400},
	} {
		r := Result{Steps: []Step{step(400, 400, Pass), c.fail}}.Settle(DefaultLimits())
		if r.Capacity != 400 || math.Abs(r.High-c.wantH) > 1e-9 || r.LimitedBy != LimitMaxRT {
			t.Errorf("%s: capacity %v high %v by %q, want 400, %v, max_rt", c.name, r.Capacity, r.High, r.LimitedBy, c.wantH)
		}
	}
}

func TestParseStatusRoundTrips(t *testing.T) {
	for st := Running; st <= NotFound; st++ {
		if got, ok := ParseStatus(st.String()); !ok || got != st {
			t.Errorf("ParseStatus(%q) = %v, %v", st.String(), got, ok)
		}
	}
	if _, ok := ParseStatus("bogus"); ok {
		t.Error("ParseStatus accepted an unknown status")
	}
}

func TestAutoGivesUpWhenEveryRequestFails(t *testing.T) {
	steps := 0
	res, err := Run(context.Background(), NewAuto(AutoConfig{Start: 100}), DefaultLimits(), time.Hour,
		func(_ context.Context, d Decision) (Window, error) {
			steps++
			// A wrong URL: every request fails whatever the load.
			n := samplesOf(d.Rate, d.Hold)
			return Window{Offered: d.Rate, Achieved: d.Rate, Samples: n, Failures: n}, nil
		}, nil)
	if err != nil || res.Status != NotFound || len(res.Steps) != maxAllFailed {
		t.Errorf("err %v status %v after %d steps; want no passing load after %d", err, res.Status, len(res.Steps), maxAllFailed)
	}
}

func TestProfilePlaysItsStepsAsPlanned(t *testing.T) {
	// A rate limit of 150/s: the profile goes on past failing steps, never
	// extends a short one, and clamps ramps to MaxQPS.
	p := &rateLimit{L: 150, rng: rand.New(rand.NewPCG(1, 1))}
	lim := Limits{Quantile: 0.99, FaultTolerate: 0.001, MinTail: 5, MaxQPS: 250}
	plan := []Decision{
		{Rate: 50, Hold: 5 * time.Second, Phase: "warm"},
		{Rate: 50, RateEnd: 300, Hold: 5 * time.Second, Phase: "ramp"},
		{Rate: 200, Hold: 5 * time.Second, Phase: "plateau"},
		{Rate: 20, Hold: 5 * time.Second, Phase: "recovery"},
	}
	var asked []Decision
	sf := stepFunc(p)
	res, err := Run(context.Background(), &Profile{Steps: plan}, lim, time.Hour,
		func(ctx context.Context, d Decision) (Window, error) {
			asked = append(asked, d)
			return sf(ctx, d)
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != Finished || len(res.Steps) != len(plan) || len(asked) != len(plan) {
		t.Fatalf("status %v, %d steps, %d asked; want %d steps, finished", res.Status, len(res.Steps), len(asked), len(plan))
	}
	for i, d := range asked {
		if d.Phase != plan[i].Phase || d.Extend || !d.Planned || d.Hold != plan[i].Hold {
			t.Errorf("step %d asked %+v, planned %+v", i+1, d, plan[i])
		}
	}
	if asked[1].RateEnd != 250 || asked[1].Load() != 150 {
		t.Errorf("the ramp ran %+v, want it clamped to 250/s", asked[1])
	}
	if res.Steps[2].Verdict != Fail || res.Steps[3].Verdict != Pass {
		t.Errorf("verdicts %v then %v, want the plateau over the limit to fail and the recovery to pass", res.Steps[2].Verdict, res.Steps[3].Verdict)
	}
}

func TestOverloadedAllowsForLatencyLag(t *testing.T) {
	for _, c := range []struct {
		name string
		w    Window
		want bool
	}{
		// An LLM step after a drain, with 2.35 s latencies: for the first
		// 2.35 s of its 20 s few answers came.
		{"long latency", Window{Offered: 31.5, Achieved: 27.8, Latency: 2350 * time.Millisecond, Duration: 20 * time.Second}, false},
		// The same shortfall with millisecond latencies is a target that
		// cannot keep up.
		{"fast target short", Window{Offered: 31.5, Achieved: 27.8, Latency: 5 * time.Millisecond, Duration: 20 * time.Second}, true},
		{"fast target keeping up", Window{Offered: 32, Achieved: 31.9, Latency: 5 * time.Millisecond, Duration: 20 * time.Second}, false},
		{"saturated at half", Window{Offered: 800, Achieved: 400, Latency: 50 * time.Millisecond, Duration: 5 * time.Second}, true},
		{"closed loop", Window{Offered: 0, Achieved: 10}, false},
	} {
		if got := overloaded(c.w, 0); got != c.want {
			t.Errorf("%s: overloaded %v, want %v", c.name, got, c.want)
		}
	}
}

// A step whose answers lag its start by their latency kept up, and so
// did a pass; one overloaded beyond what the passes below explain, or
// whose requests in flight piled up, did not.
func TestKeptUp(t *testing.T) {
	pass := Step{Decision: Decision{Rate: 8}, Verdict: Pass, Window: Window{Offered: 8, Achieved: 7.4, Latency: 2 * time.Second, Duration: 10 * time.Second}}
	step := func(v Verdict, achieved float64, lat time.Duration, inFlight int) Step {
		return Step{Decision: Decision{Rate: 32}, Verdict: v, Window: Window{Offered: 32, Achieved: achieved, Latency: lat, Duration: 10 * time.Second,
			Warmup: time.Second, Samples: 280, InFlightStart: 60, InFlightEnd: 60 + inFlight}}
	}
	for _, c := range []struct {
		name string
		s    Step
		want bool
	}{
		{"lagging by its latency", step(Fail, 28.2, 2*time.Second, 2), true},
		// Its own latency of 6 s would explain the shortfall, the passes'
		// 2 s do not.
		{"overloaded", step(Fail, 20, 6*time.Second, 2), false},
		// Answers of an LLM take longer at a larger batch: the passes'
		// latency below does not explain the lag, and a pass kept up.
		{"passed, lagging by more than the passes below", step(Pass, 26, 3*time.Second, 2), true},
		{"piling up", step(Fail, 31, 2*time.Second, 120), false},
		{"passed, piling up", step(Pass, 31, 2*time.Second, 120), false},
		{"invalid", step(Invalid, 32, 2*time.Second, 2), false},
	} {
		if got := KeptUp([]Step{pass, c.s}, 1); got != c.want {
			t.Errorf("%s: kept up %v, want %v", c.name, got, c.want)
		}
	}
	if !KeptUp([]Step{pass}, 0) || KeptUp([]Step{{Window: Window{Achieved: 10}}}, 0) {
		t.Error("the pass did not keep up, or a closed-loop step did")
	}
}

func TestJudgeFailsEarlyOnEveryLatencyLimit(t *testing.T) {
	lim := Limits{Quantile: 0.99, FaultTolerate: 0.001, MinTail: 5, MaxTTFT: time.Second, MaxTPOT: 50 * time.Millisecond}
	// Of 60 samples, 3 over a p99 limit are more than chance explains at
	// 95 % (the chance of 3 or more is 2.2 %), 2 are not (12 %).
	for _, c := range []struct {
		w     Window
		v     Verdict
		limit Limit
	}{
		{Window{Samples: 60, OverTTFT: 3}, Fail, LimitTTFT},
		{Window{Samples: 60, OverTPOT: 3}, Fail, LimitTPOT},
		{Window{Samples: 60, OverTTFT: 2, OverTPOT: 2}, Short, LimitSamples},
	} {
		if v, l := lim.Judge(c.w); v != c.v || l != c.limit {
			t.Errorf("%+v: %v (%s), want %v (%s)", c.w, v, l, c.v, c.limit)
		}
	}
}

// A step that was still answering an earlier step's backlog says nothing
// of its own load unless it passed anyway: it is repeated, and a target
// that keeps carrying it fails at that load.
func TestCarriedBacklog(t *testing.T) {
	lim := Limits{Quantile: 0.99, FaultTolerate: 0.001, MaxRT: 100 * time.Millisecond}
	slow := Window{Samples: 500, OverRT: 40, Latency: time.Second, Carried: true}
	if v, l := lim.Judge(slow); v != Invalid || l != LimitBacklog {
		t.Errorf("a failing step that carried a backlog: %v/%q, want invalid/backlog", v, l)
	}
	fine := Window{Samples: 500, Latency: 10 * time.Millisecond, Carried: true}
	if v, _ := lim.Judge(fine); v != Pass {
		t.Errorf("a step that passed while carrying a backlog: %v, want pass", v)
	}
	// Run repeats it; once repeats are spent, auto takes it as a failure
	// at that rate, not as the generator's limit.
	tries := 0
	res, err := Run(context.Background(), NewAuto(AutoConfig{Start: 100, Limits: lim}), lim, time.Minute,
		func(_ context.Context, d Decision) (Window, error) {
			if d.Rate >= 200 {
				tries++
				return slow, nil
			}
			return Window{Offered: d.Rate, Achieved: d.Rate, Samples: 500, Latency: 10 * time.Millisecond}, nil
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status == GeneratorBound || res.Steps[1].Verdict != Invalid || tries < 1+maxRetries {
		t.Fatalf("status %v, steps %+v: want the step at 200/s repeated, then failed", res.Status, res.Steps)
	}
	// The search narrows under 200/s, where steps pass.
	if res.Capacity < 100 || res.Capacity >= 200 {
		t.Errorf("capacity %v, want it under 200/s", res.Capacity)
	}
}

// A step the search can end early ends at the first look (a third of its
// hold) whose evidence decides it: a failure far over a limit at once; a
// confirmation keeps its whole hold.
func TestRunEndsAStepOnceItsEvidenceDecides(t *testing.T) {
	lim := Limits{Quantile: 0.99, FaultTolerate: 0.001, MinTail: 5}
	for _, c := range []struct {
		phase string
		want  time.Duration
	}{{"bisect", 2 * time.Second}, {PhaseConfirm, 6 * time.Second}} {
		p := &rateLimit{L: 100, rng: rand.New(rand.NewPCG(1, 1))}
		d := Decision{Rate: 1000, Hold: 6 * time.Second, Sequential: true, Phase: c.phase}
		res, err := Run(context.Background(), &Fixed{D: d}, lim, 6*time.Second, stepFunc(p), nil)
		if err != nil {
			t.Fatal(err)
		}
		st := res.Steps[0]
		if st.Verdict != Fail || !st.Conclusive || st.Decision.Hold != c.want {
			t.Errorf("%s: %v (conclusive %v) held %v, want a conclusive failure held %v", c.phase, st.Verdict, st.Conclusive, st.Decision.Hold, c.want)
		}
	}
}
