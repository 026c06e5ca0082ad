package analysis

import (
	"errors"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/optimize"
)

// LatencyFit is the queueing curve R(λ) = S + A/(Mu − λ) fitted to a
// latency quantile (seconds) against offered load (requests/s): S is the
// latency without queueing, Mu the rate at which the queue grows without
// bound, A the scale of queueing delay. M/M/1's quantiles have exactly
// this shape with S = 0 (p99 = ln(100)/(μ − λ)); M/M/c's approach it as
// load nears capacity.
type LatencyFit struct {
	S, A, Mu float64
	// RMSLE is the root mean square error of the fit in log latency: 0.1
	// is about 10 % off at a typical point.
	RMSLE float64
	// N is the number of points fitted.
	N int
}

// At returns the fitted latency (seconds) at rate qps; +Inf at or above
// Mu.
func (f LatencyFit) At(qps float64) float64 {
	if qps >= f.Mu {
		return math.Inf(1)
	}
	return f.S + f.A/(f.Mu-qps)
}

// RateAt returns the rate at which the fitted latency reaches limit
// (seconds): Mu − A/(limit − S). It is 0 when even no load exceeds limit.
func (f LatencyFit) RateAt(limit float64) float64 {
	if limit <= f.S {
		return 0
	}
	return math.Max(0, f.Mu-f.A/(limit-f.S))
}

// ErrTooFewPoints is returned by FitLatency given fewer than three usable
// points: the curve has three parameters.
var ErrTooFewPoints = errors.New("analysis: too few steps to fit a latency curve (need 3 below saturation)")

// FitLatency fits R(λ) = S + A/(Mu − λ) to latencies lat (seconds, > 0)
// at offered rates qps (requests/s, > 0), by least squares in log latency
// so that every point weighs by its relative error. The parameters are
// searched as logarithms (S, A > 0 and Mu > max qps) with Nelder–Mead from
// several starts, keeping the best.
func FitLatency(qps, lat []float64) (LatencyFit, error) {
	xs, ys := logPoints(qps, lat)
	if len(xs) < 3 {
		return LatencyFit{}, ErrTooFewPoints
	}
	xmax, ymin, ymax := xs[0], ys[0], ys[0]
	for i := range xs {
		xmax, ymin, ymax = math.Max(xmax, xs[i]), math.Min(ymin, ys[i]), math.Max(ymax, ys[i])
	}
	var starts []LatencyFit
	for _, gap := range []float64{0.01, 0.1, 0.5, 2} {
		for _, share := range []float64{0.5, 0.95} {
			// Start with share of the lowest latency as S and A placing
			// the highest latency at the highest rate.
			s0 := share * math.Exp(ymin)
			mu0 := xmax * (1 + gap)
			starts = append(starts, LatencyFit{S: s0, A: math.Max(math.Exp(ymax)-s0, 1e-9) * (mu0 - xmax), Mu: mu0})
		}
	}
	return fitFrom(xs, ys, starts)
}

// logPoints keeps the usable points, with latency as its logarithm.
func logPoints(qps, lat []float64) (xs, ys []float64) {
	for i := range qps {
		if qps[i] > 0 && lat[i] > 0 && !math.IsInf(lat[i], 0) {
			xs, ys = append(xs, qps[i]), append(ys, math.Log(lat[i]))
		}
	}
	return xs, ys
}

// fitFrom runs Nelder–Mead from each start and keeps the best fit.
func fitFrom(xs, ys []float64, starts []LatencyFit) (LatencyFit, error) {
	xmax := xs[0]
	for _, x := range xs {
		xmax = math.Max(xmax, x)
	}
	decode := func(p []float64) LatencyFit {
		return LatencyFit{S: math.Exp(p[0]), A: math.Exp(p[1]), Mu: xmax * (1 + math.Exp(p[2]))}
	}
	cost := logSquares(xs, ys, func(p []float64, x float64) float64 { return decode(p).At(x) })
	var inits [][]float64
	for _, st := range starts {
		if st.Mu > xmax && st.S > 0 && st.A > 0 {
			inits = append(inits, []float64{math.Log(st.S), math.Log(st.A), math.Log(st.Mu/xmax - 1)})
		}
	}
	p, bestCost := minimize(cost, inits)
	if math.IsInf(bestCost, 1) {
		return LatencyFit{}, errors.New("analysis: the latency curve did not fit")
	}
	best := decode(p)
	best.RMSLE = math.Sqrt(bestCost / float64(len(xs)))
	best.N = len(xs)
	return best, nil
}

// logSquares is the cost of a model of positive values: the sum of
// squared differences between ys (logarithms of the data) and the
// logarithm of model(p, x). A NaN counts as +Inf, so the search avoids it.
func logSquares(xs, ys []float64, model func(p []float64, x float64) float64) func([]float64) float64 {
	return func(p []float64) float64 {
		var ss float64
		for i := range xs {
			d := ys[i] - math.Log(model(p, xs[i]))
			ss += d * d
		}
		if math.IsNaN(ss) {
			return math.Inf(1)
		}
		return ss
	}
}

// minimize runs Nelder–Mead (robust for a few parameters without
// gradients) from each start and returns the best point and its cost;
// +Inf when none converged anywhere finite.
func minimize(cost func([]float64) float64, starts [][]float64) ([]float64, float64) {
	settings := &optimize.Settings{MajorIterations: 2000, Converger: &optimize.FunctionConverge{Absolute: 1e-12, Iterations: 100}}
	var best []float64
	bestCost := math.Inf(1)
	for _, init := range starts {
		res, err := optimize.Minimize(optimize.Problem{Func: cost}, init, settings, &optimize.NelderMead{})
		if err != nil && res == nil {
			continue
		}
		if c := cost(res.X); c < bestCost {
			best, bestCost = res.X, c
		}
	}
	return best, bestCost
}

// Interval is a confidence interval.
type Interval struct {
	Low, High float64
	// Level is the coverage, e.g. 0.9.
	Level float64
}

// BootstrapRate gives a confidence interval at level for the rate at which
// the latency curve through (qps, lat) reaches limit (seconds), by
// resampling the fit's residuals (in log latency) b times with rng. Fits
// that fail are left out; with fewer than half of them good it reports no
// interval (ok false).
func BootstrapRate(qps, lat []float64, limit, level float64, b int, rng *rand.Rand) (Interval, bool) {
	fit, err := FitLatency(qps, lat)
	if err != nil {
		return Interval{}, false
	}
	xs, logLat := logPoints(qps, lat)
	res := make([]float64, len(xs))
	for i, x := range xs {
		res[i] = logLat[i] - math.Log(fit.At(x))
	}
	// Residuals of a least-squares fit are smaller than the noise by
	// √(n/(n−p)); inflate them back.
	if n, p := float64(len(xs)), 3.0; n > p {
		k := math.Sqrt(n / (n - p))
		for i := range res {
			res[i] *= k
		}
	}
	rates := make([]float64, 0, b)
	ys := make([]float64, len(xs))
	for range b {
		for i, x := range xs {
			ys[i] = math.Log(fit.At(x)) + res[rng.IntN(len(res))]
		}
		// Resampled data lie near the fit: start from it alone.
		f, err := fitFrom(xs, ys, []LatencyFit{fit})
		if err != nil {
			continue
		}
		rates = append(rates, f.RateAt(limit))
	}
	if len(rates) < b/2 {
		return Interval{}, false
	}
	sort.Float64s(rates)
	tail := (1 - level) / 2
	return Interval{Low: quantileSorted(rates, tail), High: quantileSorted(rates, 1-tail), Level: level}, true
}

// quantileSorted is the q quantile (a fraction) of sorted values, by
// linear interpolation between order statistics.
func quantileSorted(v []float64, q float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(v)-1)
	i := int(pos)
	if i >= len(v)-1 {
		return v[len(v)-1]
	}
	return v[i] + (pos-float64(i))*(v[i+1]-v[i])
}

// Knee finds the knee of the fitted curve over [lo, hi] by Kneedle
// (Satopää et al., 2011): with load and latency both scaled to [0, 1] over
// the range, the knee of an increasing convex curve is where the scaled
// load exceeds the scaled latency the most — where the curve departs
// furthest from the straight line joining its ends. It samples n points.
func Knee(f LatencyFit, lo, hi float64, n int) float64 {
	if !(hi > lo) || n < 3 {
		return 0
	}
	hi = math.Min(hi, f.Mu*(1-1e-6))
	ylo, yhi := f.At(lo), f.At(hi)
	if !(yhi > ylo) {
		return 0
	}
	best, knee := math.Inf(-1), 0.0
	for i := range n {
		x := lo + (hi-lo)*float64(i)/float64(n-1)
		d := (x-lo)/(hi-lo) - (f.At(x)-ylo)/(yhi-ylo)
		if d > best {
			best, knee = d, x
		}
	}
	return knee
}
