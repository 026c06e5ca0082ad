package analysis

import (
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/capfinder/capfinder/probe/rundir"
)

// Figures a Curve can follow against load.
const (
	FigureLatency = "latency"
	FigureTTFT    = "ttft"
	FigureTPOT    = "tpot"
)

// Curve is a quantile of one figure (latency, TTFT or TPOT) of a run's
// steady steps against their offered load, kept with each step's
// histogram so that its requests can be resampled.
type Curve struct {
	Figure   string
	Quantile float64
	qps      []float64
	hists    []*hdrhistogram.Histogram
}

// Curve gathers figure's quantile q over the run's steady steps that
// measured it.
func (a *Analysis) Curve(figure string, q float64) Curve {
	c := Curve{Figure: figure, Quantile: q}
	for i, s := range a.Run.Steps {
		h := s.Latency
		switch figure {
		case FigureTTFT:
			h = s.TTFT
		case FigureTPOT:
			h = s.TPOT
		}
		if a.steady(i) && h != nil && h.TotalCount() > 0 {
			c.qps, c.hists = append(c.qps, s.Offered), append(c.hists, h)
		}
	}
	return c
}

// Range is the span of offered loads the curve measured; 0, 0 when empty.
func (c Curve) Range() (lo, hi float64) {
	if len(c.qps) == 0 {
		return 0, 0
	}
	lo, hi = c.qps[0], c.qps[0]
	for _, q := range c.qps {
		lo, hi = math.Min(lo, q), math.Max(hi, q)
	}
	return lo, hi
}

// points is each step's quantile, in seconds.
func (c Curve) points() []float64 {
	out := make([]float64, len(c.hists))
	for i, h := range c.hists {
		out[i] = rundir.Quantile(h, c.Quantile).Seconds()
	}
	return out
}

// At reads the curve at load qps (seconds): the queueing curve fitted to
// the steps' quantiles (FitLatency), or, where it does not fit, a line
// through the steps on either side. Its interval at level comes from b
// bootstraps over the requests within each step: every step's quantile
// is drawn as the quantile of n requests resampled from its own n, and
// the curve read again. ok is false outside the loads measured.
func (c Curve) At(qps, level float64, b int, rng *rand.Rand) (v float64, ci Interval, ok bool) {
	lo, hi := c.Range()
	if len(c.qps) == 0 || qps < lo || qps > hi {
		return 0, Interval{}, false
	}
	lat := c.points()
	read := c.reader(lat, qps)
	v = read(lat)
	if !(v > 0) || math.IsInf(v, 0) {
		return 0, Interval{}, false
	}
	vals := make([]float64, 0, b)
	ys := make([]float64, len(lat))
	for range b {
		for i, h := range c.hists {
			ys[i] = resampledQuantile(h, c.Quantile, rng).Seconds()
		}
		if y := read(ys); y > 0 && !math.IsInf(y, 0) {
			vals = append(vals, y)
		}
	}
	if len(vals) < b/2 {
		return v, Interval{}, true
	}
	sort.Float64s(vals)
	tail := (1 - level) / 2
	return v, Interval{Low: quantileSorted(vals, tail), High: quantileSorted(vals, 1-tail), Level: level}, true
}

// reader returns how the curve through lat is read at qps: by the fitted
// queueing curve, refitted from it for each resample, or, where it does
// not fit, by interpolation between the steps on either side.
func (c Curve) reader(lat []float64, qps float64) func([]float64) float64 {
	if fit, err := FitLatency(c.qps, lat); err == nil {
		return func(ys []float64) float64 {
			xs, logs := logPoints(c.qps, ys)
			if len(xs) < 3 {
				return 0
			}
			f, err := fitFrom(xs, logs, []LatencyFit{fit})
			if err != nil {
				return 0
			}
			return f.At(qps)
		}
	}
	return func(ys []float64) float64 { return interpolate(c.qps, ys, qps) }
}

// interpolate reads y at x on the line between the nearest points below
// and above it (their mean where several share a load).
func interpolate(xs, ys []float64, x float64) float64 {
	below, above := math.Inf(-1), math.Inf(1)
	for _, xi := range xs {
		if xi <= x {
			below = math.Max(below, xi)
		}
		if xi >= x {
			above = math.Min(above, xi)
		}
	}
	at := func(load float64) float64 {
		sum, n := 0.0, 0
		for i, xi := range xs {
			if xi == load {
				sum, n = sum+ys[i], n+1
			}
		}
		return sum / float64(n)
	}
	yb, ya := at(below), at(above)
	if above == below {
		return yb
	}
	return yb + (ya-yb)*(x-below)/(above-below)
}

// resampledQuantile is the q quantile of n values drawn with replacement
// from h's n. The k-th smallest of n uniform draws follows Beta(k, n−k+1),
// and the k-th smallest resampled value is h's quantile at that draw; k
// is taken as q·(n+1), so that the draws centre on h's own q quantile.
func resampledQuantile(h *hdrhistogram.Histogram, q float64, rng *rand.Rand) time.Duration {
	n := float64(h.TotalCount())
	k := math.Min(math.Max(1, q*(n+1)), n)
	u := distuv.Beta{Alpha: k, Beta: n - k + 1, Src: rng}.Rand()
	return rundir.Quantile(h, u)
}
