package main

import (
	"math"
	"path/filepath"

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
	l.MaxTTFT, l.MaxTPOT = s.MaxTTFT, s.MaxTPOT
	if isSearch(s.Mode) {
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
	case "profile":
		return &controller.Profile{Steps: plan(s.Stages, s.StepDuration)}
	}
	// concurrency, manual and throughput: a closed loop of workers.
	return &controller.Fixed{D: controller.Decision{Concurrency: s.Concurrency, Hold: s.StepDuration}}
}

// liveSteps are the steps as the engine measured them, with the
// controller's verdicts: what steps.parquet records.
func liveSteps(res controller.Result, windows []probe.Window) []analysis.Step {
	steps := make([]analysis.Step, 0, len(res.Steps))
	for i, st := range res.Steps {
		if i >= len(windows) {
			break
		}
		steps = append(steps, analysis.StepFromWindow(windows[i], st.Decision.Phase, st.Verdict.String(), string(st.Limit)))
	}
	return steps
}

func isSearch(mode string) bool { return mode == "auto" || mode == "scan" }

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
			ScheduleLagNs: nanos(s.ScheduleLagMs / 1e3),
			Sent:          s.Sent, Samples: s.Samples, Failures: s.Failures, AchievedQPS: s.AchievedQPS,
			P50Ms: s.P50Ms, P90Ms: s.P90Ms, P99Ms: s.P99Ms, P999Ms: s.P999Ms, MaxMs: s.MaxMs, MeanMs: s.MeanMs,
			ErrorRate: s.ErrorRate, SendLagP99Ms: s.SendLagP99, Verdict: s.Verdict, LimitedBy: s.LimitedBy,
			RateEndQPS: s.RateEndQPS, InFlightStart: s.InFlightStart, InFlightEnd: s.InFlightEnd,
		}
	}
	return probe.WriteParquet(filepath.Join(dir, "steps.parquet"), rows, nil)
}
