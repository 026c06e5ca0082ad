package controller

import "math"

// binomialAtMost is P(X ≤ k) for X ~ Binomial(n, p), and binomialAtLeast
// P(X ≥ k). Each sums the probabilities from k away from the mode, where
// they fall geometrically, so it stops after a few terms past where they
// no longer count, and starts in logarithms so that no term underflows.

func binomialAtMost(n, k int, p float64) float64 {
	switch {
	case k < 0:
		return 0
	case k >= n || p <= 0:
		return 1
	case p >= 1:
		return 0
	}
	if float64(k) > float64(n)*p {
		return 1 - binomialAtLeast(n, k+1, p)
	}
	// Below the mode each term is the next one × i/(n−i+1) × (1−p)/p.
	term := math.Exp(logBinomialPMF(n, k, p))
	sum := 0.0
	for i := k; i >= 0 && term > 0; i-- {
		sum += term
		if term < sum*1e-17 {
			break
		}
		term *= float64(i) / float64(n-i+1) * (1 - p) / p
	}
	return math.Min(1, sum)
}

func binomialAtLeast(n, k int, p float64) float64 {
	switch {
	case k <= 0:
		return 1
	case k > n || p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	if float64(k) < float64(n)*p {
		return 1 - binomialAtMost(n, k-1, p)
	}
	// Above the mode each term is the last one × (n−i)/(i+1) × p/(1−p).
	term := math.Exp(logBinomialPMF(n, k, p))
	sum := 0.0
	for i := k; i <= n && term > 0; i++ {
		sum += term
		if term < sum*1e-17 {
			break
		}
		term *= float64(n-i) / float64(i+1) * p / (1 - p)
	}
	return math.Min(1, sum)
}

// logBinomialPMF is log P(X = k) for X ~ Binomial(n, p), 0 < p < 1.
func logBinomialPMF(n, k int, p float64) float64 {
	ln, _ := math.Lgamma(float64(n + 1))
	lk, _ := math.Lgamma(float64(k + 1))
	lnk, _ := math.Lgamma(float64(n - k + 1))
	return ln - lk - lnk + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p)
}
