package controller

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBenchSearch is `make bench-search`: auto against simulated targets
// of known capacity, at several parameter sets each and over ten seeds,
// with EAS's scan at its defaults beside it on the same targets. It
// prints the error of each answer against the truth and the load time
// it took, in virtual time, as a markdown table (BENCHMARKS.md).
func TestBenchSearch(t *testing.T) {
	if os.Getenv("CAPFINDER_BENCH_SEARCH") == "" {
		t.Skip("a benchmark; `make bench-search` runs it")
	}
	q := 0.99
	http := func(name string, lim Limits, truth float64, p func(seed uint64) plant) search {
		return search{name: name, lim: lim, plant: p, truth: truth, start: 100, hold: 5 * time.Second, tol: 0.03}
	}
	var targets []search
	for _, L := range []float64{740, 2400} {
		targets = append(targets, http(fmt.Sprintf("error limit: rate limit %.0f/s, faultTolerate 0.1 %%", L),
			Limits{Quantile: q, FaultTolerate: 0.001, MinTail: 5}, L,
			func(seed uint64) plant { return &rateLimit{L: L, rng: rand.New(rand.NewPCG(seed, 2))} }))
	}
	r := ramp{knee: 300, slope: 0.002}
	targets = append(targets, http("error limit: errors ramp above 300/s, faultTolerate 1 %",
		Limits{Quantile: q, FaultTolerate: 0.01, MinTail: 5}, r.limit(0.01),
		func(seed uint64) plant { p := r; p.rng = rand.New(rand.NewPCG(seed, 3)); return &p }))
	for _, k := range []float64{740, 2000} {
		c := cliff{knee: k, base: 13 * time.Millisecond, maxRT: 50 * time.Millisecond}
		targets = append(targets, http(fmt.Sprintf("latency cliff at %.0f/s, p99 ≤ 50 ms", k),
			Limits{MaxRT: c.maxRT, Quantile: q, FaultTolerate: 0.001, MinTail: 5}, c.limit(),
			func(seed uint64) plant { p := c; p.rng = rand.New(rand.NewPCG(seed, 4)); return &p }))
	}
	for _, m := range []mmc{{c: 4, mu: 200, q: q, maxRT: 50 * time.Millisecond}, {c: 8, mu: 250, q: q, maxRT: 40 * time.Millisecond}} {
		targets = append(targets, http(fmt.Sprintf("M/M/%d, μ = %.0f/s, p99 ≤ %v", m.c, m.mu, m.maxRT),
			Limits{MaxRT: m.maxRT, Quantile: q, FaultTolerate: 0.001, MinTail: 5}, m.limit(m.maxRT, q),
			func(seed uint64) plant { p := m; p.rng = rand.New(rand.NewPCG(seed, 1)); return &p }))
	}
	for _, ttft := range []time.Duration{time.Second, 300 * time.Millisecond} {
		targets = append(targets, search{
			name:  fmt.Sprintf("batching LLM replica, Poisson, TTFT p99 ≤ %v", ttft),
			lim:   Limits{MaxTTFT: ttft, Quantile: q, FaultTolerate: 0.001, MinTail: 5},
			plant: func(seed uint64) plant { return newBatching(seed, ttft) },
			truth: batchingTruth(ttft), start: 1, hold: 15 * time.Second, tol: 0.05,
		})
	}

	const seeds = 10
	var out strings.Builder
	out.WriteString("| target | truth | auto: within goal | auto: error median, worst | auto: load median, max | auto: steps median | EAS scan: error, load |\n|---|---|---|---|---|---|---|\n")
	for _, s := range targets {
		var errs []float64
		var loads []time.Duration
		var steps []int
		within := 0
		var scanErr []float64
		var scanLoad []time.Duration
		for seed := uint64(1); seed <= seeds; seed++ {
			res := runAuto(t, s, seed, false)
			e := res.Capacity/s.truth - 1
			errs = append(errs, e)
			loads = append(loads, loadOf(res))
			steps = append(steps, len(res.Steps))
			if math.Abs(e) <= s.tol {
				within++
			}
			// EAS's scan at its defaults (from --min-qps, 50/s more every
			// minute) read at its first failure: the last rate that passed.
			sc := NewScan(ScanConfig{Min: s.start, Action: Stop, Limits: s.lim})
			sres, err := run(sc, s.lim, 4*time.Hour, s.plant(seed))
			if err != nil {
				t.Fatal(err)
			}
			answer, load := 0.0, time.Duration(0)
			for _, st := range sres.Steps {
				load += st.Decision.Hold + st.Window.Drained
				if st.Verdict == Fail {
					break
				}
				answer = st.Decision.Rate
			}
			scanErr = append(scanErr, answer/s.truth-1)
			scanLoad = append(scanLoad, load)
		}
		worst := slices.MaxFunc(errs, func(a, b float64) int { return cmpAbs(a, b) })
		fmt.Fprintf(&out, "| %s | %.1f/s | %d/%d within ±%.0f %% | %+.1f %%, %+.1f %% | %v, %v | %d | %+.0f %%, %v |\n",
			s.name, s.truth, within, seeds, 100*s.tol, 100*medianOf(errs), 100*worst,
			medianOf(loads).Round(time.Second), slices.Max(loads).Round(time.Second), medianOf(steps),
			100*medianOf(scanErr), medianOf(scanLoad).Round(time.Second))
	}
	t.Log("\n" + out.String())
}

func cmpAbs(a, b float64) int { return cmp.Compare(math.Abs(a), math.Abs(b)) }

func medianOf[T int | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
