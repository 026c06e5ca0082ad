package analysis_test

import (
	"fmt"
	"math"
	"time"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
)

// memRun is a recorded run held in memory: a rundir.Source.
type memRun struct {
	steps []rundir.StepRow
	recs  []rundir.Record
}

func (m memRun) Dir() string                                  { return "memory" }
func (m memRun) Meta() map[string]string                      { return map[string]string{rundir.MetaMode: "auto"} }
func (m memRun) Steps() ([]rundir.StepRow, error)             { return m.steps, nil }
func (m memRun) Records(fn func([]rundir.Record) error) error { return fn(m.recs) }
func (m memRun) Skipped() []string                            { return nil }
func (m memRun) Server() ([]rundir.ServerRow, error)          { return nil, nil }

// Three 10 s steps at 100, 200 and 400 req/s against a target whose
// latency is M/M/1 with a capacity of 500 req/s, judged against p99 ≤ 25
// ms: the first two steps hold, the third does not, and the fitted curve
// narrows the bracket above the capacity.
func ExampleAnalyze() {
	var run memRun
	hold := int64(10 * time.Second)
	for i, rate := range []float64{100, 200, 400} {
		start := int64(i) * hold
		n := int(rate * 10)
		for k := range n {
			sched := start + int64(float64(k)/rate*1e9)
			// The (k mod 100 + 0.5)/100 quantile of the M/M/1 latency.
			lat := -math.Log(1-(float64(k%100)+0.5)/100) / (500 - rate)
			run.recs = append(run.recs, rundir.Record{Step: int32(i + 1), OfferedQPS: rate, ScheduledNs: sched, SentNs: sched,
				EndNs: sched + int64(lat*1e9), Status: 200, Seq: int64(len(run.recs) + 1)})
		}
		run.steps = append(run.steps, rundir.StepRow{Step: int32(i + 1), Phase: "grow", OfferedQPS: rate,
			StartNs: start, EndNs: start + hold, JudgedStartNs: start + int64(time.Second), JudgedEndNs: start + hold})
	}
	lim := controller.DefaultLimits()
	lim.MaxRT = 25 * time.Millisecond
	r, err := analysis.ReadRun(run, analysis.ReadOptions{Warmup: -1, Limits: lim})
	if err != nil {
		fmt.Println(err)
		return
	}
	a := analysis.Analyze(r, analysis.Options{Limits: lim, Search: true, Status: controller.Converged, TargetQPS: 1000, Headroom: 0.3})
	for _, s := range a.Summary.Steps {
		fmt.Printf("%g/s: p99 %.1f ms, %s\n", s.OfferedQPS, s.P99Ms, s.Verdict)
	}
	c := a.Summary.Capacity
	fmt.Printf("capacity %g req/s, limited by %s; the limit lies between %.4g and %.4g\n", c.QPS, c.LimitedBy, c.Low, c.High)
	fmt.Println("replicas for 1000 req/s:", a.Summary.Recommendation.Replicas)
	// Output:
	// 100/s: p99 10.5 ms, pass
	// 200/s: p99 14.0 ms, pass
	// 400/s: p99 42.0 ms, fail
	// capacity 200 req/s, limited by max_rt; the limit lies between 200 and 332
	// replicas for 1000 req/s: 8
}
