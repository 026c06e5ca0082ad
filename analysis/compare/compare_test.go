package compare

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"
)

// run is a recorded run whose capacity lies in [lo, hi].
func run(dir string, lo, hi float64) Run {
	r := Run{Dir: dir}
	r.Info.Spec = rundir.Spec{API: rundir.APIHTTP, MaxRT: 100 * time.Millisecond, RTQuantile: 0.99}
	r.Summary.Capacity = rundir.Capacity{QPS: lo, Low: lo, High: hi}
	r.Summary.Limits.RTQuantile = 0.99
	return r
}

func TestVerdicts(t *testing.T) {
	base := run("base", 100, 104)
	for _, tc := range []struct {
		name      string
		cand      Run
		verdict   string
		regressed bool
	}{
		// Overlapping ranges are no significant change, whatever the
		// difference of the figures.
		{"same", run("same", 101, 105), Same, false},
		{"a little lower, within the noise", run("close", 97, 100), Same, false},
		{"a quarter lower", run("slow", 75, 78), Worse, true},
		// Significant, yet within the threshold asked for.
		{"lower by less than the threshold", run("bit", 88, 91), Worse, false},
		{"higher", run("fast", 130, 133), Better, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compare([]Run{base, tc.cand}, Options{FailOnRegression: 0.15})
			if err != nil {
				t.Fatal(err)
			}
			m := c.Candidates[0].Metrics[0]
			if m.Verdict != tc.verdict || c.Candidates[0].Regressed != tc.regressed || c.Regressed() != tc.regressed {
				t.Errorf("%+v regressed %v; want %s, regressed %v", m, c.Candidates[0].Regressed, tc.verdict, tc.regressed)
			}
		})
	}
	// Latency up is worse.
	if m := judge("p99_ms", 10, 20, [2]float64{9, 11}, [2]float64{19, 21}, false); m.Verdict != Worse {
		t.Errorf("latency doubled: %+v", m)
	}
	// The best run is the one no other beats significantly.
	c, _ := Compare([]Run{base, run("fast", 130, 133), run("close", 97, 100)}, Options{})
	if c.Best != "fast" {
		t.Errorf("best %q, want fast", c.Best)
	}
}

func TestComparable(t *testing.T) {
	a, b := run("a", 1, 1), run("b", 1, 1)
	// A server's own prompt calibration is the same workload.
	a.Info.Calibration = &rundir.Calibration{Method: "usage", PerPiece: 1.3}
	if err := Comparable(a, b); err != nil {
		t.Errorf("the same workload refused: %v", err)
	}
	b.Info.Spec.MaxRT = 200 * time.Millisecond
	if err := Comparable(a, b); !errors.Is(err, ErrIncomparable) {
		t.Errorf("different limits: %v", err)
	}
	if _, err := Compare([]Run{a, b}, Options{}); !errors.Is(err, ErrIncomparable) {
		t.Errorf("Compare took them: %v", err)
	}
	c, err := Compare([]Run{a, b}, Options{Force: true})
	if err != nil || len(c.Warnings) != 1 {
		t.Errorf("forced: %v, warnings %v", err, c.Warnings)
	}
}

// A target's repeats are represented by their median run; the noise floor
// is the largest spread, never below the search's precision.
func TestRepeatsSetTheNoiseFloor(t *testing.T) {
	a, mid := Repeat("a", []Run{run("a1", 104, 108), run("a2", 96, 100), run("a3", 100, 104)})
	if mid.Dir != "a3" || a.Median != 100 || math.Abs(a.Spread-0.08) > 1e-12 {
		t.Errorf("repeats %+v (median run %s), want median 100, spread 8 %%", a, mid.Dir)
	}
	b, _ := Repeat("b", []Run{run("b1", 50, 52), run("b2", 51, 53)})
	if n, ok := NoiseFloor([]Repeats{a, b}); !ok || n != a.Spread {
		t.Errorf("noise %v %v, want the larger spread %v", n, ok, a.Spread)
	}
	same, _ := Repeat("c", []Run{run("c1", 50, 52), run("c2", 50, 52)})
	if n, ok := NoiseFloor([]Repeats{same}); !ok || n != MinNoise {
		t.Errorf("repeats that agree: noise %v, want the floor %v", n, MinNoise)
	}
	if _, ok := NoiseFloor([]Repeats{{Name: "once", Capacities: []float64{50}}}); ok {
		t.Error("a target run once measured a noise floor")
	}
	// With that floor, the repeats of a do not differ significantly.
	c, err := Compare([]Run{run("a1", 104, 108), run("a2", 96, 100)}, Options{Noise: a.Spread, NoiseFrom: "repeats"})
	if err != nil || c.Candidates[0].Metrics[0].Verdict != Same {
		t.Errorf("repeats compared under their own noise: %+v, %v", c, err)
	}
}
