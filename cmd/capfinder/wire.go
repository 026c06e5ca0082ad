package main

import (
	"math"
	"path/filepath"
	"time"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe"
)

// limitsOf returns the limits a run judges its steps by.
func limitsOf(s spec) controller.Limits {
	l := controller.DefaultLimits()
	l.MaxRT = s.MaxRT
	l.Quantile = s.RTQuantile
	l.FaultTolerate = s.FaultTolerate
	if s.Mode == "auto" || s.Mode == "scan" {
		l.MaxQPS = s.MaxQPS
	}
	return l
}

// newController returns the controller of the run's mode.
func newController(s spec) controller.Controller {
	action := controller.FaultAction(s.FaultAction)
	switch s.Mode {
	case "auto":
		return controller.NewAuto(controller.AutoConfig{
			Start: s.MinQPS, Max: s.MaxQPS, Precision: s.Precision,
			Hold: s.StepDuration, Limits: limitsOf(s),
		})
	case "scan":
		return controller.NewScan(controller.ScanConfig{
			Min: s.MinQPS, Max: s.MaxQPS, Delta: s.QPSGrowthDelta,
			Interval: s.AdjustInterval, Action: action,
		})
	case "rate":
		return &controller.Fixed{D: controller.Decision{Rate: s.Rate, Concurrency: s.Concurrency, Hold: s.StepDuration}}
	}
	// concurrency, manual and throughput: a closed loop of workers.
	return &controller.Fixed{D: controller.Decision{Concurrency: s.Concurrency, Hold: s.StepDuration}}
}

// summarize builds summary.json from what the controller decided and the
// engine measured.
func summarize(s spec, res controller.Result, windows []probe.Window, tot probe.Totals) analysis.Summary {
	sum := analysis.Summary{
		Status: res.Status.String(),
		Mode:   s.Mode,
		Requests: analysis.Requests{
			Sent: tot.Sent, Recorded: tot.Recorded, OK: tot.OK, Failed: tot.Failed, Canceled: tot.Canceled,
		},
		Limits: analysis.Limits{
			MaxRTMs:       float64(s.MaxRT) / float64(time.Millisecond),
			RTQuantile:    s.RTQuantile,
			FaultTolerate: s.FaultTolerate,
			FaultAction:   s.FaultAction,
			MaxQPS:        limitsOf(s).MaxQPS,
		},
		Steps:    []analysis.Step{},
		Warnings: []string{},
	}
	for i, st := range res.Steps {
		if i >= len(windows) {
			break
		}
		step := analysis.StepFromWindow(windows[i], st.Decision.Phase, st.Verdict.String(), string(st.Limit))
		sum.Steps = append(sum.Steps, step)
		if st.Short {
			sum.Warnings = append(sum.Warnings, shortWarning(st, limitsOf(s)))
		}
		if st.Verdict == controller.Invalid && st.Limit == controller.LimitGenerator {
			sum.Warnings = append(sum.Warnings, generatorWarning(step))
		}
	}
	if sum.Requests.Sent > 0 && sum.Requests.OK == 0 {
		sum.Warnings = append(sum.Warnings, noSuccessWarning(sum.Steps))
	}
	if isSearch(s.Mode) {
		sum.Capacity = analysis.Capacity{QPS: res.Capacity, Low: res.Capacity, High: res.High, LimitedBy: string(res.LimitedBy)}
	} else {
		// A fixed load has no bracket: its capacity is what it sustained
		// while every limit held.
		sum.Capacity = analysis.Capacity{QPS: res.Capacity, Low: res.Capacity, LimitedBy: string(res.LimitedBy)}
		if res.Capacity > 0 && s.Mode != "rate" {
			sum.Capacity.QPS = sustained(res, windows)
			sum.Capacity.Low = sum.Capacity.QPS
		}
	}
	sum.Recommendation = analysis.Recommend(sum.Capacity, s.TargetQPS, s.Headroom)
	return sum
}

func isSearch(mode string) bool { return mode == "auto" || mode == "scan" }

// sustained is the lowest achieved rate over the passing steps of a
// closed-loop run: the throughput every step delivered within the limits.
func sustained(res controller.Result, windows []probe.Window) float64 {
	best := 0.0
	for i, st := range res.Steps {
		if st.Verdict != controller.Pass || i >= len(windows) {
			continue
		}
		if a := windows[i].Achieved(); best == 0 || a < best {
			best = a
		}
	}
	return best
}

func shortWarning(st controller.Step, lim controller.Limits) string {
	return "step " + itoa(st.Index) + " had " + itoa(st.Window.Samples) + " samples, under the " +
		itoa(lim.MinSamples()) + " its quantile needs; its verdict rests on thin evidence (hold steps longer)"
}

// noSuccessWarning says that no request succeeded, and the most common
// failure: a wrong URL, method or credential rather than a capacity.
func noSuccessWarning(steps []analysis.Step) string {
	counts := map[string]int64{}
	for _, st := range steps {
		for k, v := range st.Errors {
			counts[k] += v
		}
	}
	top, n := "", int64(0)
	for k, v := range counts {
		if v > n || (v == n && k < top) {
			top, n = k, v
		}
	}
	msg := "no request succeeded; check the URL, method and headers"
	if top != "" {
		msg += " (most failures: " + top + ")"
	}
	return msg
}

func generatorWarning(s analysis.Step) string {
	return "step " + itoa(s.Step) + " is invalid: the generator fell behind its schedule (send lag p99 " +
		ftoa(s.SendLagP99) + " ms); the limit found may be the generator's, not the target's"
}

// nanos turns the summary's seconds back into the exact nanoseconds they
// were made from.
func nanos(s float64) int64 { return int64(math.Round(s * 1e9)) }

// writeStepsParquet writes steps.parquet from the summary's step table.
func writeStepsParquet(dir string, steps []analysis.Step) error {
	rows := make([]probe.StepRecord, len(steps))
	for i, s := range steps {
		rows[i] = probe.StepRecord{
			Step: int32(s.Step), Phase: s.Phase, OfferedQPS: s.OfferedQPS, Concurrency: int32(s.Concurrency),
			StartNs: nanos(s.StartS), EndNs: nanos(s.EndS),
			JudgedStartNs: nanos(s.JudgedStartS), JudgedEndNs: nanos(s.JudgedEndS), Saturated: s.Saturated,
			Sent: s.Sent, Samples: s.Samples, Failures: s.Failures, AchievedQPS: s.AchievedQPS,
			P50Ms: s.P50Ms, P90Ms: s.P90Ms, P99Ms: s.P99Ms, P999Ms: s.P999Ms, MaxMs: s.MaxMs, MeanMs: s.MeanMs,
			ErrorRate: s.ErrorRate, SendLagP99Ms: s.SendLagP99, Verdict: s.Verdict, LimitedBy: s.LimitedBy,
		}
	}
	return probe.WriteParquet(filepath.Join(dir, "steps.parquet"), rows, nil)
}
