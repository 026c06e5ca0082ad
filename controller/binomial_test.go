package controller

import (
	"math"
	"testing"
)

// The binomial tails agree with the sum of every term, computed the
// plain way, and with the figures the README quotes.
func TestBinomialTails(t *testing.T) {
	for _, c := range []struct {
		n int
		p float64
	}{{60, 0.01}, {299, 0.01}, {500, 0.01}, {1000, 0.001}, {40, 0.3}, {200, 0.5}} {
		pmf := make([]float64, c.n+1)
		for i := range pmf {
			pmf[i] = math.Exp(logBinomialPMF(c.n, i, c.p))
		}
		below := 0.0
		for k := 0; k <= c.n; k++ {
			below += pmf[k]
			above := 1 - below + pmf[k]
			if got := binomialAtMost(c.n, k, c.p); math.Abs(got-below) > 1e-9 {
				t.Fatalf("n %d p %g: P(X ≤ %d) = %g, want %g", c.n, c.p, k, got, below)
			}
			if got := binomialAtLeast(c.n, k, c.p); math.Abs(got-above) > 1e-9 {
				t.Fatalf("n %d p %g: P(X ≥ %d) = %g, want %g", c.n, c.p, k, got, above)
			}
		}
	}
	// Far tails of large counts neither underflow nor lose their value.
	if got := binomialAtMost(1_000_000, 9000, 0.01); !(got > 0 && got < 1e-20) {
		t.Errorf("P(X ≤ 9000) of Binomial(1e6, 0.01) = %g, want a tiny positive number", got)
	}
	// For p99 at 95 %: none over the limit in 299 samples proves it, in
	// 298 not; one in 473; two in 628.
	for _, c := range []struct {
		n, k int
		want bool
	}{{299, 0, true}, {298, 0, false}, {473, 1, true}, {472, 1, false}, {628, 2, true}, {627, 2, false}} {
		if got := Under(c.n, c.k, 0.01, 0.05); got != c.want {
			t.Errorf("Under(%d, %d): %v, want %v", c.n, c.k, got, c.want)
		}
	}
}
