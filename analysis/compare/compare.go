package compare

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
)

// Run is a recorded run as a comparison sees it.
type Run struct {
	// Dir is where the run lies; Name labels it in the comparison (Dir
	// unless set).
	Dir, Name string
	Info      rundir.RunInfo
	Summary   rundir.Summary
	// Data is the run explained again from its requests, for the
	// bootstrap; nil when the directory keeps only run.json and
	// summary.json, and the run is then compared by its summary alone.
	Data *analysis.Analysis
}

// label is how the comparison names r.
func (r Run) label() string {
	if r.Name != "" {
		return r.Name
	}
	return r.Dir
}

// Load reads a run's run.json and summary.json; Read adds its requests.
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

// Read explains the run again from its requests in src (as the run
// judged them), for the bootstrap.
func (r *Run) Read(src rundir.Source) error {
	status, ok := controller.ParseStatus(r.Summary.Status)
	if !ok {
		status = controller.Finished
	}
	a, err := analysis.Explain(src, r.Info.Spec, -1, status)
	if err != nil {
		return fmt.Errorf("compare: %s: %w", r.Dir, err)
	}
	r.Data = a
	return nil
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

// Verdicts of a metric. A figure without a verdict (the server's
// metrics, told for what they explain) has Verdict "".
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
	// Evidence says what the ranges come from: "bracket" (the loads
	// that held and broke, or the fitted curve's interval), "count" (a
	// Poisson count's interval),
	// "bootstrap" (requests resampled within steps), "noise" (the noise
	// floor alone) or "none" (no verdict).
	Evidence string `json:"evidence"`
}

// Candidate is one run compared with the baseline.
type Candidate struct {
	Dir     string   `json:"dir"`
	Name    string   `json:"name"`
	Metrics []Metric `json:"metrics"`
	// Regressed is set when the capacity is significantly lower than the
	// baseline's by more than the threshold asked for.
	Regressed bool `json:"regressed"`
}

// Comparison is every candidate against the baseline.
type Comparison struct {
	Baseline string  `json:"baseline"`
	Noise    float64 `json:"noise_floor"`
	// NoiseFrom says where the floor came from: "repeats" (measured),
	// "option" or "default".
	NoiseFrom string `json:"noise_from"`
	// Level is the coverage of the bootstrap intervals.
	Level      float64     `json:"level"`
	Candidates []Candidate `json:"candidates"`
	// Repeats are the targets' repeated capacities, when a sweep made
	// repeats.
	Repeats  []Repeats `json:"repeats,omitempty"`
	Warnings []string  `json:"warnings"`
	// Best is the run of the highest capacity that no other beats
	// significantly.
	Best string `json:"best"`
}

// Options tune a comparison.
type Options struct {
	// Noise is the run-to-run noise floor, relative; default DefaultNoise.
	Noise float64
	// NoiseFrom says where Noise came from ("repeats", "option"); it
	// defaults to "default" when Noise is unset.
	NoiseFrom string
	// Repeats are reported with the comparison.
	Repeats []Repeats
	// FailOnRegression, when positive, marks a candidate whose capacity is
	// significantly lower than the baseline's by more than it (a fraction).
	FailOnRegression float64
	// Force compares runs that Comparable refuses, with a warning.
	Force bool
	// Level is the coverage of the bootstrap intervals; default 0.9.
	Level float64
}

// bootstraps is the resamples behind each interval read at a matched load.
const bootstraps = 200

// Compare compares every run after the first with the first.
func Compare(runs []Run, opt Options) (*Comparison, error) {
	if len(runs) < 2 {
		return nil, errors.New("compare: give a baseline and at least one candidate")
	}
	if opt.Noise <= 0 {
		opt.Noise, opt.NoiseFrom = DefaultNoise, "default"
	}
	if opt.Level <= 0 {
		opt.Level = 0.9
	}
	base := runs[0]
	c := &Comparison{Baseline: base.label(), Noise: opt.Noise, NoiseFrom: opt.NoiseFrom, Level: opt.Level, Repeats: opt.Repeats, Warnings: []string{}}
	best, bestRange := base, capacityRange(base.Summary, opt.Noise)
	for _, r := range runs[1:] {
		if err := Comparable(base, r); err != nil {
			if !opt.Force {
				return nil, err
			}
			c.Warnings = append(c.Warnings, strings.TrimPrefix(err.Error(), "compare: ")+"; compared as asked (--force)")
		}
		cand := Candidate{Dir: r.Dir, Name: r.label(), Metrics: metrics(base, r, opt)}
		capm := cand.Metrics[0]
		cand.Regressed = opt.FailOnRegression > 0 && capm.Verdict == Worse && capm.Change < -opt.FailOnRegression
		c.Candidates = append(c.Candidates, cand)
		if rr := capacityRange(r.Summary, opt.Noise); rr[0] > bestRange[1] {
			best, bestRange = r, rr
		}
	}
	c.Best = best.label()
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
	return widen([2]float64{lo, hi}, noise)
}

// widen widens r by the noise floor on either side.
func widen(r [2]float64, noise float64) [2]float64 {
	return [2]float64{r[0] * (1 - noise), r[1] * (1 + noise)}
}

// metrics compares the figures of two runs: capacity first.
func metrics(a, b Run, opt Options) []Metric {
	noise := opt.Noise
	sa, sb := a.Summary, b.Summary
	capm := judge("capacity_qps", sa.Capacity.QPS, sb.Capacity.QPS, capacityRange(sa, noise), capacityRange(sb, noise), true)
	capm.Evidence = "bracket"
	out := []Metric{capm}
	// Figures without an interval of their own are judged by the noise
	// floor alone.
	point := func(name string, x, y float64, higher bool) {
		if x > 0 || y > 0 {
			m := judge(name, x, y, widen([2]float64{x, x}, noise), widen([2]float64{y, y}, noise), higher)
			m.Evidence = "noise"
			out = append(out, m)
		}
	}
	point("knee_qps", sa.Knee.QPS, sb.Knee.QPS, true)
	if x, y := sa.Saturation, sb.Saturation; x.QPS > 0 && y.QPS > 0 && x.High > 0 && y.High > 0 {
		// The plateau's throughput has an interval of its own: a Poisson
		// count's.
		m := judge("saturation_qps", x.QPS, y.QPS, widen([2]float64{x.Low, x.High}, noise), widen([2]float64{y.Low, y.High}, noise), true)
		m.Evidence = "count"
		out = append(out, m)
	} else {
		point("saturation_qps", x.QPS, y.QPS, true)
	}
	point("goodput_qps", goodput(sa), goodput(sb), true)
	if sa.Tokens != nil && sb.Tokens != nil {
		point("output_tokens_per_s", sa.Tokens.OutputPerS, sb.Tokens.OutputPerS, true)
	}
	out = append(out, matched(a, b, opt)...)
	return append(out, server(sa, sb)...)
}

// goodput is the most requests a second that met every limit in any step.
func goodput(s rundir.Summary) float64 {
	g := 0.0
	for _, st := range s.Steps {
		g = math.Max(g, st.GoodputQPS)
	}
	return g
}

// matched compares latency, and for streamed LLM runs TTFT and TPOT, at a
// load both runs measured: the lower of their capacities, read from each
// run's curve through its steady steps, with an interval from a bootstrap
// over the requests within those steps. A run that kept only its summary
// is read from its fitted latency curve, judged by the noise floor alone.
func matched(a, b Run, opt Options) []Metric {
	at := math.Min(a.Summary.Capacity.QPS, b.Summary.Capacity.QPS)
	if at <= 0 {
		return nil
	}
	q := a.Summary.Limits.RTQuantile
	if q <= 0 {
		q = b.Summary.Limits.RTQuantile
	}
	suffix := fmt.Sprintf("p%s_ms_at_%.4g_qps", trim(100*q), at)
	if a.Data == nil || b.Data == nil {
		x, y := fitAt(a.Summary, at), fitAt(b.Summary, at)
		if x <= 0 || y <= 0 {
			return nil
		}
		m := judge(suffix, x, y, widen([2]float64{x, x}, opt.Noise), widen([2]float64{y, y}, opt.Noise), false)
		m.Evidence = "noise"
		return []Metric{m}
	}
	figures := []string{analysis.FigureLatency}
	if a.Data.Run.Streamed > 0 && b.Data.Run.Streamed > 0 && a.Summary.Tokens != nil && b.Summary.Tokens != nil {
		figures = append(figures, analysis.FigureTTFT, analysis.FigureTPOT)
	}
	rng := rand.New(rand.NewPCG(1, 0x636f6d70617265)) // "compare"
	var out []Metric
	for _, fig := range figures {
		read := func(r Run) (float64, [2]float64, bool) {
			v, ci, ok := r.Data.Curve(fig, q).At(at, opt.Level, bootstraps, rng)
			if !ok {
				return 0, [2]float64{}, false
			}
			if ci.Level == 0 {
				ci.Low, ci.High = v, v
			}
			return 1e3 * v, widen([2]float64{1e3 * ci.Low, 1e3 * ci.High}, opt.Noise), true
		}
		x, rx, okA := read(a)
		y, ry, okB := read(b)
		if !okA || !okB {
			continue
		}
		name := suffix
		if fig != analysis.FigureLatency {
			name = fig + "_" + suffix
		}
		m := judge(name, x, y, rx, ry, false)
		m.Evidence = "bootstrap"
		out = append(out, m)
	}
	return out
}

// server tells the inference engine's state at each run's capacity, from
// the metrics it scraped: what the engine ran with at the load it held.
// They explain, and get no verdict.
func server(a, b rundir.Summary) []Metric {
	at := func(s rundir.Summary) map[string]rundir.ServerStat {
		for _, st := range slices.Backward(s.Steps) {
			if st.Verdict == "pass" && st.OfferedQPS == s.Capacity.QPS {
				return st.Server
			}
		}
		return nil
	}
	ma, mb := at(a), at(b)
	if ma == nil || mb == nil {
		return nil
	}
	var out []Metric
	for _, r := range []struct {
		name string
		role analysis.Role
	}{
		{"server_running_at_capacity", analysis.Running},
		{"server_waiting_at_capacity", analysis.Waiting},
		{"server_kv_cache_at_capacity", analysis.KVCache},
		{"server_preemptions_per_s_at_capacity", analysis.Preemptions},
	} {
		x, _, okA := r.role.Value(ma)
		y, _, okB := r.role.Value(mb)
		if okA && okB {
			m := Metric{Name: r.name, Base: x, Value: y, BaseRange: [2]float64{x, x}, Range: [2]float64{y, y}, Evidence: "none"}
			if x > 0 {
				m.Change = (y - x) / x
			}
			out = append(out, m)
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
