package analysis

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/capfinder/capfinder/probe/rundir"
)

// mm1Curve is a run's p99 latency curve on an M/M/1 server of rate 1000/s:
// n exponential latencies of mean 1/(1000 − λ) at each load.
func mm1Curve(rng *rand.Rand, loads []float64, n int) Curve {
	c := Curve{Figure: FigureLatency, Quantile: 0.99}
	for _, l := range loads {
		h := rundir.NewHistogram()
		for range n {
			rundir.RecordNs(h, int64(rng.ExpFloat64()/(1000-l)*1e9))
		}
		c.qps, c.hists = append(c.qps, l), append(c.hists, h)
	}
	return c
}

// The curve read between the loads measured finds the true p99, and the
// bootstrap over the steps' requests gives an interval that covers it
// about as often as its level says.
func TestCurveAtCoversTheTruth(t *testing.T) {
	loads := []float64{200, 400, 600, 800, 900}
	const at, trials = 700.0, 40
	truth := math.Log(100) / (1000 - at)
	covered, width := 0, 0.0
	for i := range trials {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		c := mm1Curve(rng, loads, 2000)
		v, ci, ok := c.At(at, 0.9, 100, rng)
		if !ok || ci.Level != 0.9 {
			t.Fatalf("trial %d: no value or interval (%v, %+v)", i, v, ci)
		}
		if math.Abs(v-truth)/truth > 0.15 {
			t.Errorf("trial %d: p99 at %v/s read as %.2f ms, truth %.2f ms", i, at, 1e3*v, 1e3*truth)
		}
		if ci.Low > v || ci.High < v {
			t.Errorf("trial %d: the interval [%.2f, %.2f] ms leaves out the value %.2f ms", i, 1e3*ci.Low, 1e3*ci.High, 1e3*v)
		}
		if ci.Low <= truth && truth <= ci.High {
			covered++
		}
		width += (ci.High - ci.Low) / truth / trials
	}
	t.Logf("90 %% intervals covered the truth in %d of %d trials, mean width %.1f %%", covered, trials, 100*width)
	if covered < 30 {
		t.Errorf("the intervals covered the truth in %d of %d trials, want about 36", covered, trials)
	}
	if width <= 0.01 {
		t.Errorf("mean width %.3f: the bootstrap did not resample", width)
	}
	// More requests per step, a narrower interval.
	rng := rand.New(rand.NewPCG(99, 7))
	_, wide, _ := mm1Curve(rng, loads, 500).At(at, 0.9, 100, rng)
	_, narrow, _ := mm1Curve(rng, loads, 20000).At(at, 0.9, 100, rng)
	if narrow.High-narrow.Low >= wide.High-wide.Low {
		t.Errorf("20000 requests a step gave [%.2f, %.2f] ms, 500 gave [%.2f, %.2f] ms", 1e3*narrow.Low, 1e3*narrow.High, 1e3*wide.Low, 1e3*wide.High)
	}
}

// Outside the loads it measured a curve says nothing; where the steps do
// not make a queueing curve, it reads between them.
func TestCurveAtStaysWithinItsLoads(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	c := mm1Curve(rng, []float64{200, 400, 600}, 1000)
	for _, at := range []float64{100, 700} {
		if _, _, ok := c.At(at, 0.9, 50, rng); ok {
			t.Errorf("read at %v/s, outside 200–600", at)
		}
	}
	two := mm1Curve(rng, []float64{200, 600}, 1000)
	v, _, ok := two.At(400, 0.9, 50, rng)
	lo, hi := rundir.Quantile(two.hists[0], 0.99).Seconds(), rundir.Quantile(two.hists[1], 0.99).Seconds()
	if !ok || math.Abs(v-(lo+hi)/2) > 1e-9 {
		t.Errorf("two steps read at the middle: %v, want %v", v, (lo+hi)/2)
	}
}
