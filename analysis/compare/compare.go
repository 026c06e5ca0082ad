package compare

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/capfinder/capfinder/probe/rundir"
)

// Run is a recorded run as a comparison sees it.
type Run struct {
	Dir     string
	Info    rundir.RunInfo
	Summary rundir.Summary
}

// Load reads a run's run.json and summary.json.
func Load(dir string) (Run, error) {
	r := Run{Dir: dir}
	if err := rundir.ReadJSON(filepath.Join(dir, rundir.RunJSON), &r.Info); err != nil {
		return r, fmt.Errorf("compare: %s is not a run directory: %w", dir, err)
	}
	if err := rundir.ReadJSON(filepath.Join(dir, rundir.SummaryJSON), &r.Summary); err != nil {
		return r, fmt.Errorf("compare: %s has no summary (capfinder analyze %s writes one): %w", dir, dir, err)
	}
	return r, nil
}

// ErrIncomparable is returned for runs whose limits, workloads or APIs
// differ.
var ErrIncomparable = errors.New("compare: the runs cannot be compared")

// Comparable says why b cannot be compared with a, nil when it can.
// Servers whose prompt calibration differs still ran the same workload.
func Comparable(a, b Run) error {
	sa, sb := a.Info.Spec, b.Info.Spec
	for _, d := range []struct {
		what   string
		va, vb any
	}{
		{"--api", sa.API, sb.API},
		{"--max-rt", sa.MaxRT, sb.MaxRT},
		{"--rt-quantile", sa.RTQuantile, sb.RTQuantile},
		{"--fault-tolerate", sa.FaultTolerate, sb.FaultTolerate},
		{"--max-ttft", sa.MaxTTFT, sb.MaxTTFT},
		{"--max-tpot", sa.MaxTPOT, sb.MaxTPOT},
		{"--dataset", sa.Dataset, sb.Dataset},
		{"--body", sa.Body + sa.BodyFile + sa.DataBase64 + sa.DataFile, sb.Body + sb.BodyFile + sb.DataBase64 + sb.DataFile},
		{"--method", sa.Method, sb.Method},
		{"--max-tokens", sa.MaxTokens, sb.MaxTokens},
		{"--arrival", sa.Arrival, sb.Arrival},
	} {
		if d.va != d.vb {
			return fmt.Errorf("%w: %s has %s %v, %s has %v (--force compares them anyway)", ErrIncomparable, a.Dir, d.what, orNone(d.va), b.Dir, orNone(d.vb))
		}
	}
	return nil
}

func orNone(v any) any {
	if v == "" {
		return "none"
	}
	return v
}

// Verdicts of a metric.
const (
	Better = "better"
	Worse  = "worse"
	Same   = "~"
)

// DefaultNoise is the run-to-run noise floor, relative, when the runs do
// not measure it: twice the default search precision.
const DefaultNoise = 0.04

// Metric is one figure of a candidate against the baseline.
type Metric struct {
	Name string `json:"name"`
	// Base and Value are the baseline's figure and the candidate's, with
	// the intervals they were judged by (widened by the noise floor).
	Base      float64    `json:"base"`
	Value     float64    `json:"value"`
	BaseRange [2]float64 `json:"base_range"`
	Range     [2]float64 `json:"range"`
	// Change is (Value − Base) / Base.
	Change  float64 `json:"change"`
	Verdict string  `json:"verdict"`
	// HigherIsBetter orders the verdict: capacity up is better, latency
	// up worse.
	HigherIsBetter bool `json:"higher_is_better"`
}

// Candidate is one run compared with the baseline.
type Candidate struct {
	Dir     string   `json:"dir"`
	Metrics []Metric `json:"metrics"`
	// Regressed is set when the capacity is significantly lower than the
	// baseline's by more than the threshold asked for.
	Regressed bool `json:"regressed"`
}

// Comparison is every candidate against the baseline.
type Comparison struct {
	Baseline   string      `json:"baseline"`
	Noise      float64     `json:"noise_floor"`
	Candidates []Candidate `json:"candidates"`
	Warnings   []string    `json:"warnings"`
	// Best is the run of the highest capacity that no other beats
	// significantly.
	Best string `json:"best"`
}

// Options tune a comparison.
type Options struct {
	// Noise is the run-to-run noise floor, relative; default DefaultNoise.
	Noise float64
	// FailOnRegression, when positive, marks a candidate whose capacity is
	// significantly lower than the baseline's by more than it (a fraction).
	FailOnRegression float64
	// Force compares runs that Comparable refuses, with a warning.
	Force bool
}

// Compare compares every run after the first with the first.
func Compare(runs []Run, opt Options) (*Comparison, error) {
	if len(runs) < 2 {
		return nil, errors.New("compare: give a baseline and at least one candidate")
	}
	if opt.Noise <= 0 {
		opt.Noise = DefaultNoise
	}
	base := runs[0]
	c := &Comparison{Baseline: base.Dir, Noise: opt.Noise, Warnings: []string{}}
	best, bestRange := base, capacityRange(base.Summary, opt.Noise)
	for _, r := range runs[1:] {
		if err := Comparable(base, r); err != nil {
			if !opt.Force {
				return nil, err
			}
			c.Warnings = append(c.Warnings, strings.TrimPrefix(err.Error(), "compare: ")+"; compared as asked (--force)")
		}
		cand := Candidate{Dir: r.Dir, Metrics: metrics(base.Summary, r.Summary, opt.Noise)}
		capm := cand.Metrics[0]
		cand.Regressed = opt.FailOnRegression > 0 && capm.Verdict == Worse && capm.Change < -opt.FailOnRegression
		c.Candidates = append(c.Candidates, cand)
		if rr := capacityRange(r.Summary, opt.Noise); rr[0] > bestRange[1] {
			best, bestRange = r, rr
		}
	}
	c.Best = best.Dir
	return c, nil
}

// Regressed reports whether any candidate regressed.
func (c *Comparison) Regressed() bool {
	for _, cand := range c.Candidates {
		if cand.Regressed {
			return true
		}
	}
	return false
}

// capacityRange is where a run's true capacity lies, widened by the noise
// floor: from the capacity held to the first load that broke a limit (as
// the run narrowed it); for a run that found no upper bound, the fitted
// curve's interval when it has one.
func capacityRange(s rundir.Summary, noise float64) [2]float64 {
	c := s.Capacity
	lo, hi := c.Low, c.High
	if lo <= 0 {
		lo = c.QPS
	}
	if f := s.Fit; hi <= 0 && f != nil && len(f.CapacityCI) == 2 {
		lo, hi = math.Min(lo, f.CapacityCI[0]), f.CapacityCI[1]
	}
	hi = math.Max(hi, lo)
	return [2]float64{lo * (1 - noise), hi * (1 + noise)}
}

// metrics compares the figures of two runs: capacity first.
func metrics(a, b rundir.Summary, noise float64) []Metric {
	out := []Metric{judge("capacity_qps", a.Capacity.QPS, b.Capacity.QPS, capacityRange(a, noise), capacityRange(b, noise), true)}
	// Figures without an interval of their own are judged by the noise
	// floor alone.
	point := func(name string, x, y float64, higher bool) {
		if x > 0 || y > 0 {
			out = append(out, judge(name, x, y, [2]float64{x * (1 - noise), x * (1 + noise)}, [2]float64{y * (1 - noise), y * (1 + noise)}, higher))
		}
	}
	point("knee_qps", a.Knee.QPS, b.Knee.QPS, true)
	point("saturation_qps", a.Saturation.QPS, b.Saturation.QPS, true)
	if a.Tokens != nil && b.Tokens != nil {
		point("output_tokens_per_s", a.Tokens.OutputPerS, b.Tokens.OutputPerS, true)
	}
	// Latency at a load both runs measured: the lower capacity, on each
	// run's fitted curve.
	if at := math.Min(a.Capacity.QPS, b.Capacity.QPS); at > 0 {
		if x, y := fitAt(a, at), fitAt(b, at); x > 0 && y > 0 {
			point(fmt.Sprintf("p%s_ms_at_%.4g_qps", trim(100*a.Limits.RTQuantile), at), x, y, false)
		}
	}
	return out
}

// fitAt is a run's fitted latency curve at qps, in milliseconds; 0 without
// a fit or beyond its asymptote.
func fitAt(s rundir.Summary, qps float64) float64 {
	f := s.Fit
	if f == nil || f.MuQPS <= qps || f.Model == "" {
		return 0
	}
	return f.SMs + 1e3*f.A/(f.MuQPS-qps)
}

// judge gives the verdict of y against x by their ranges: a difference is
// significant only when they do not overlap.
func judge(name string, x, y float64, rx, ry [2]float64, higher bool) Metric {
	m := Metric{Name: name, Base: x, Value: y, BaseRange: rx, Range: ry, Verdict: Same, HigherIsBetter: higher}
	if x > 0 {
		m.Change = (y - x) / x
	}
	switch {
	case ry[0] > rx[1]:
		m.Verdict = Better
	case ry[1] < rx[0]:
		m.Verdict = Worse
	}
	if !higher && m.Verdict != Same {
		m.Verdict = map[string]string{Better: Worse, Worse: Better}[m.Verdict]
	}
	return m
}

func trim(v float64) string { return strings.TrimSuffix(fmt.Sprintf("%.4g", v), ".0") }
