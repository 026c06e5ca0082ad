package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
)

// mm1p99 is M/M/1's exact p99 response time (seconds) at rate lambda.
func mm1p99(mu, lambda float64) float64 { return math.Log(100) / (mu - lambda) }

// mmcTail is P(R > t) for M/M/c with FCFS and exponential service.
func mmcTail(c int, mu, lambda, t float64) float64 {
	a := lambda / mu
	sum, term := 0.0, 1.0
	for k := 0; k < c; k++ {
		if k > 0 {
			term *= a / float64(k)
		}
		sum += term
	}
	last := term * a / float64(c) / (1 - a/float64(c))
	C := last / (sum + last)
	th := float64(c)*mu - lambda
	var wait float64
	if math.Abs(th-mu) < 1e-9 {
		wait = math.Exp(-mu*t) * (1 + mu*t)
	} else {
		wait = (th*math.Exp(-mu*t) - mu*math.Exp(-th*t)) / (th - mu)
	}
	return (1-C)*math.Exp(-mu*t) + C*wait
}

// mmcP99 is M/M/c's p99 response time at rate lambda, by bisection.
func mmcP99(c int, mu, lambda float64) float64 {
	lo, hi := 0.0, 100.0
	for range 200 {
		m := (lo + hi) / 2
		if mmcTail(c, mu, lambda, m) > 0.01 {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}

// rateAt finds where an increasing latency function reaches limit.
func rateAt(f func(float64) float64, lo, hi, limit float64) float64 {
	for range 200 {
		m := (lo + hi) / 2
		if f(m) > limit {
			hi = m
		} else {
			lo = m
		}
	}
	return lo
}

// noisySteps samples a latency curve at the given fractions of capacity
// with multiplicative noise of relative size sd, as measured steps are.
func noisySteps(f func(float64) float64, capacity float64, fracs []float64, sd float64, rng *rand.Rand) (qps, lat []float64) {
	for _, fr := range fracs {
		x := fr * capacity
		qps = append(qps, x)
		lat = append(lat, f(x)*math.Exp(sd*rng.NormFloat64()))
	}
	return qps, lat
}

// The loads an auto search visits: doubling, then narrowing near the limit.
var searchFracs = []float64{0.1, 0.2, 0.4, 0.8, 0.85, 0.88, 0.9, 0.91, 0.92}

func TestFitLatencyRecoversCapacity(t *testing.T) {
	mm1 := func(x float64) float64 { return mm1p99(1000, x) }
	mmc := func(x float64) float64 { return mmcP99(8, 250, x) }
	for _, c := range []struct {
		name     string
		f        func(float64) float64
		capacity float64 // where the queue grows without bound
		limit    float64 // the SLO on p99, seconds
	}{
		// p99 = ln(100)/(μ − λ): exactly the fitted shape.
		{"M/M/1 μ=1000, p99 ≤ 50ms", mm1, 1000, 0.050},
		// Erlang C's p99 only approaches the shape near capacity.
		{"M/M/8 μ=250, p99 ≤ 40ms", mmc, 2000, 0.040},
	} {
		truth := rateAt(c.f, 0, c.capacity*(1-1e-9), c.limit)
		for seed := uint64(1); seed <= 5; seed++ {
			rng := rand.New(rand.NewPCG(seed, 9))
			// Steps up to just past the limit, as a search measures them.
			var fracs []float64
			for _, fr := range searchFracs {
				fracs = append(fracs, fr*truth/c.capacity/0.9)
			}
			qps, lat := noisySteps(c.f, c.capacity, fracs, 0.03, rng)
			fit, err := FitLatency(qps, lat)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got := fit.RateAt(c.limit); math.Abs(got-truth)/truth > 0.02 {
				t.Errorf("%s seed %d: fitted capacity %.1f, truth %.1f (fit %+v)", c.name, seed, got, truth, fit)
			}
		}
	}
}

func TestBootstrapIntervalsCoverTheTruth(t *testing.T) {
	const mu, limit, trials, level = 1000.0, 0.050, 40, 0.9
	f := func(x float64) float64 { return mm1p99(mu, x) }
	truth := mu - math.Log(100)/limit
	covered := 0
	for seed := uint64(1); seed <= trials; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		qps, lat := noisySteps(f, mu, []float64{0.2, 0.4, 0.6, 0.8, 0.85, 0.9, 0.92}, 0.05, rng)
		ci, ok := BootstrapRate(qps, lat, limit, level, 100, rng)
		if !ok {
			t.Fatalf("seed %d: no interval", seed)
		}
		if ci.Low <= truth && truth <= ci.High {
			covered++
		}
	}
	// A 90 % interval should cover the truth in about 36 of 40 trials;
	// 30 allows for sampling and for the bootstrap's known undercoverage
	// with few points.
	t.Logf("%d of %d 90 %% intervals covered the truth", covered, trials)
	if covered < 30 {
		t.Errorf("%d of %d 90 %% intervals covered the truth", covered, trials)
	}
}

func TestKneeIsWhereKneedleSaysItIs(t *testing.T) {
	// For R = S + A/(μ − λ) over [lo, hi], Kneedle's knee (the largest gap
	// between scaled load and scaled latency) solves R'(x) = (R(hi) −
	// R(lo))/(hi − lo): x = μ − √((μ − lo)(μ − hi)).
	f := LatencyFit{S: 0.002, A: 4.6, Mu: 1000}
	for _, c := range []struct{ lo, hi float64 }{{0, 900}, {100, 990}, {500, 950}} {
		want := f.Mu - math.Sqrt((f.Mu-c.lo)*(f.Mu-c.hi))
		got := Knee(f, c.lo, c.hi, 10001)
		if math.Abs(got-want) > (c.hi-c.lo)/5000 {
			t.Errorf("knee over [%g, %g] at %.2f, want %.2f", c.lo, c.hi, got, want)
		}
	}
}

func TestFitLatencyNeedsThreePoints(t *testing.T) {
	if _, err := FitLatency([]float64{1, 2}, []float64{0.1, 0.2}); err != ErrTooFewPoints {
		t.Errorf("got %v, want ErrTooFewPoints", err)
	}
}

func TestFitUSLRecoversItsParameters(t *testing.T) {
	truth := USLFit{Lambda: 100, Sigma: 0.05, Kappa: 0.0005}
	rng := rand.New(rand.NewPCG(3, 3))
	var conc, qps []float64
	for _, n := range []float64{1, 2, 4, 8, 16, 32, 48, 64, 96, 128} {
		conc = append(conc, n)
		qps = append(qps, truth.At(n)*math.Exp(0.01*rng.NormFloat64()))
	}
	f, err := FitUSL(conc, qps)
	if err != nil {
		t.Fatal(err)
	}
	wantN, wantX := truth.Peak()
	gotN, gotX := f.Peak()
	if math.Abs(gotX-wantX)/wantX > 0.02 || math.Abs(gotN-wantN)/wantN > 0.1 {
		t.Errorf("peak %.1f req/s at N = %.1f, want %.1f at %.1f (fit %+v)", gotX, gotN, wantX, wantN, f)
	}
}
