package analysis

import (
	"errors"
	"math"
)

// USLFit is Gunther's Universal Scalability Law fitted to throughput X
// (requests/s) against concurrency N (requests in flight):
// X(N) = Lambda·N / (1 + Sigma·(N − 1) + Kappa·N·(N − 1)). Lambda is the
// throughput of one request in flight, Sigma the contention (serial
// fraction), Kappa the coherency cost that makes throughput fall past a
// peak.
type USLFit struct {
	Lambda, Sigma, Kappa float64
	// RMSLE is the root mean square error in log throughput.
	RMSLE float64
	N     int
}

// At returns the modelled throughput at concurrency n.
func (f USLFit) At(n float64) float64 {
	return f.Lambda * n / (1 + f.Sigma*(n-1) + f.Kappa*n*(n-1))
}

// Peak returns the concurrency of the highest throughput, √((1 − σ)/κ),
// and that throughput; +Inf concurrency when κ is 0 (throughput only
// approaches Lambda/Sigma).
func (f USLFit) Peak() (n, qps float64) {
	if f.Kappa <= 0 {
		if f.Sigma > 0 {
			return math.Inf(1), f.Lambda / f.Sigma
		}
		return math.Inf(1), math.Inf(1)
	}
	n = math.Sqrt(math.Max(1-f.Sigma, 0) / f.Kappa)
	return n, f.At(n)
}

// FitUSL fits the USL to throughput qps at mean concurrencies conc (by
// Little's law, achieved rate × mean latency), by least squares in log
// throughput; Sigma and Kappa are searched as logarithms, so they stay
// positive and may approach zero.
func FitUSL(conc, qps []float64) (USLFit, error) {
	var xs, ys []float64
	for i := range conc {
		if conc[i] > 0 && qps[i] > 0 {
			xs, ys = append(xs, conc[i]), append(ys, math.Log(qps[i]))
		}
	}
	if len(xs) < 3 {
		return USLFit{}, errors.New("analysis: too few steps to fit the USL (need 3)")
	}
	// One request in flight completes about X/N per second at the
	// lightest load: Lambda's start.
	l0 := math.Inf(1)
	for i := range xs {
		l0 = math.Min(l0, math.Exp(ys[i])/xs[i])
	}
	l0 = math.Max(l0, 1e-9)
	decode := func(p []float64) USLFit {
		return USLFit{Lambda: math.Exp(p[0]), Sigma: math.Exp(p[1]), Kappa: math.Exp(p[2])}
	}
	cost := logSquares(xs, ys, func(p []float64, x float64) float64 { return decode(p).At(x) })
	var starts [][]float64
	for _, sigma := range []float64{1e-4, 0.01, 0.2} {
		for _, kappa := range []float64{1e-7, 1e-4, 0.01} {
			starts = append(starts, []float64{math.Log(l0 * 1.5), math.Log(sigma), math.Log(kappa)})
		}
	}
	p, c := minimize(cost, starts)
	if math.IsInf(c, 1) {
		return USLFit{}, errors.New("analysis: the USL did not fit")
	}
	f := decode(p)
	f.RMSLE, f.N = math.Sqrt(c/float64(len(xs))), len(xs)
	return f, nil
}
