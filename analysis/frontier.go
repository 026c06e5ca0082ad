package analysis

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
)

// The ladders of limits a run's capacity is stated at: a planner rarely
// has one SLO. Latency limits apply at the run's quantile; an LLM run is
// stated at time-to-first-token limits.
var (
	latencyLadder = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
	ttftLadder    = []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
)

// frontierBootstrap is the resamples of each rung's interval: fewer than
// the answer's own, as there are several rungs.
const frontierBootstrap = 100

// frontier states the capacity of an open-loop run at every rung of its
// ladder: the steps judged again with that limit in place of the run's
// (its other limits kept), and where the curve fitted to that quantile
// meets it, with an interval, marked extrapolated when that lies outside
// the loads of the steady steps the curve was fitted to. Nil for a run
// without open-loop steps.
func (a *Analysis) frontier(opt Options) []rundir.FrontierPoint {
	lim := opt.Limits
	metric, ladder := "latency", latencyLadder
	hist := func(s *rundir.StepStats) *hdrhistogram.Histogram { return s.Latency }
	if rundir.API(a.Run.Meta[rundir.MetaAPI]).LLM() && a.Run.Streamed > 0 {
		metric, ladder = "ttft", ttftLadder
		hist = func(s *rundir.StepStats) *hdrhistogram.Histogram { return s.TTFT }
	}
	// The curve is measured over the steady steps' loads.
	var qps, lat []float64
	lo, hi := math.Inf(1), 0.0
	open := false
	for i, s := range a.Run.Steps {
		open = open || s.Offered > 0
		if a.steady(i) && s.Samples > 0 {
			qps = append(qps, s.Offered)
			lat = append(lat, rundir.Quantile(hist(s), lim.Quantile).Seconds())
			lo, hi = min(lo, s.Offered), max(hi, s.Offered)
		}
	}
	if !open {
		return nil
	}
	fit, fitErr := FitLatency(qps, lat)
	rng := rand.New(rand.NewPCG(opt.Seed, 0x66726f6e74696572)) // "frontier"
	out := make([]rundir.FrontierPoint, 0, len(ladder))
	for _, limit := range ladder {
		l := lim
		if metric == "ttft" {
			l.MaxTTFT = limit
		} else {
			l.MaxRT = limit
		}
		steps := make([]controller.Step, len(a.Steps))
		for i, s := range a.Run.Steps {
			st := a.Steps[i]
			st.Window = Window(s, l)
			st.Verdict, st.Limit, st.Conclusive, st.Higher = l.Conclude(st.Window, st.Decision)
			steps[i] = st
		}
		res := controller.Result{Steps: steps, Status: opt.Status}.Settle(l)
		p := rundir.FrontierPoint{
			Metric: metric, Quantile: lim.Quantile, LimitMs: ms(limit),
			CapacityQPS: res.Capacity, HighQPS: res.High, LimitedBy: string(res.LimitedBy),
		}
		if fitErr == nil {
			p.FittedQPS = fit.RateAt(limit.Seconds())
			p.Extrapolated = p.FittedQPS < lo || p.FittedQPS > hi
			if ci, ok := BootstrapRate(qps, lat, limit.Seconds(), opt.Level, frontierBootstrap, rng); ok {
				p.FittedCI = []float64{ci.Low, ci.High}
			}
		}
		out = append(out, p)
	}
	return out
}
