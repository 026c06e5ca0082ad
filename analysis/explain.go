package analysis

import (
	"path/filepath"
	"time"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
)

// LimitsOf returns the limits a run of spec s is judged by, live and
// offline.
func LimitsOf(s rundir.Spec) controller.Limits {
	l := controller.DefaultLimits()
	l.MaxRT = s.MaxRT
	l.Quantile = s.RTQuantile
	l.FaultTolerate = s.FaultTolerate
	l.Confidence = s.Confidence
	l.MaxTTFT, l.MaxTPOT = s.MaxTTFT, s.MaxTPOT
	if s.Mode.Search() {
		l.MaxQPS = s.MaxQPS
	}
	return l
}

// Explain reads the run src holds and explains it with the limits and
// sizing of s: what a run ends with and what `capfinder analyze` redoes.
// warmup < 0 keeps the judged stretches the run recorded; status is how
// its search ended.
func Explain(src rundir.Source, s rundir.Spec, warmup time.Duration, status controller.Status) (*Analysis, error) {
	lim := LimitsOf(s)
	r, err := ReadRun(src, ReadOptions{Warmup: warmup, Limits: lim})
	if err != nil {
		return nil, err
	}
	a := Analyze(r, Options{
		Limits: lim, FaultAction: string(s.FaultAction), Search: s.Mode.Search(), Sequential: s.Mode == rundir.ModeAuto,
		Status:    status,
		TargetQPS: s.TargetQPS, Headroom: s.Headroom, Seed: s.Seed, ReplicaCost: s.ReplicaCost,
		ServerURL: rundir.RedactURL(s.ServerMetrics),
	})
	a.Summary.Mode, a.Summary.Status = string(s.Mode), status.String()
	var info rundir.RunInfo
	if p := a.Summary.Prompts; p != nil && rundir.ReadJSON(filepath.Join(src.Dir(), rundir.RunJSON), &info) == nil {
		p.Calibration = info.Calibration
	}
	if s.Insecure {
		a.Summary.Warnings = append([]string{InsecureWarning}, a.Summary.Warnings...)
	}
	return a, nil
}

// InsecureWarning is said of every run made with --insecure.
const InsecureWarning = "TLS certificates were not verified (--insecure): the answer holds for whatever server answered, not one proven to be the target"
