package analysis

import (
	"math"
	"testing"
	"time"

	"github.com/capfinder/capfinder/controller"
)

// The SLO frontier states the capacity at each limit of its ladder: on an
// M/M/1-like run (p99 = ln(100)/(1000 − λ)), the steps judged again and
// the fitted curve find where each limit is met.
func TestFrontier(t *testing.T) {
	rates := []float64{100, 400, 800, 900, 950, 980, 990, 1600}
	r, err := ReadRun(open(t, writeRun(t, rates)), ReadOptions{Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	lim := controller.DefaultLimits()
	lim.MaxRT = 50 * time.Millisecond
	a := Analyze(r, Options{Limits: lim, Search: true, Seed: 1})
	fr := a.Summary.Frontier
	if len(fr) != len(latencyLadder) {
		t.Fatalf("%d rungs, want %d", len(fr), len(latencyLadder))
	}
	// The highest measured load under each limit, and the first above it;
	// above 990/s only the overloaded 1600/s step broke the limits, and
	// what it completed bounds them lower.
	held := map[float64][2]float64{50: {900, 950}, 100: {950, 980}, 200: {950, 980}, 500: {990, 1600}, 1000: {990, 1600}, 2000: {990, 1600}}
	for _, p := range fr {
		truth := 1000 - math.Log(100)/(p.LimitMs/1e3)
		want := held[p.LimitMs]
		if p.Metric != "latency" || p.Quantile != 0.99 || p.CapacityQPS != want[0] || p.HighQPS <= truth || p.HighQPS > want[1] {
			t.Errorf("p99 ≤ %v ms: %+v; want %v held, broken above the truth %.1f, by %v at most", p.LimitMs, p, want[0], truth, want[1])
		}
		if math.Abs(p.FittedQPS-truth)/truth > 0.02 {
			t.Errorf("p99 ≤ %v ms: fitted %.1f, want within 2 %% of %.1f", p.LimitMs, p.FittedQPS, truth)
		}
		// Beyond 990/s the run measured nothing steady: the curve is
		// extrapolated there.
		if p.Extrapolated != (p.FittedQPS > 990) {
			t.Errorf("p99 ≤ %v ms: fitted %.1f, extrapolated %v", p.LimitMs, p.FittedQPS, p.Extrapolated)
		}
	}
	// The rung of the run's own limit agrees with its answer.
	if fr[0].CapacityQPS != a.Summary.Capacity.QPS {
		t.Errorf("the 50 ms rung says %v, the answer %v", fr[0].CapacityQPS, a.Summary.Capacity.QPS)
	}
}
