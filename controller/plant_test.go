package controller

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// A plant is a simulated target as a step function: given a decision it
// returns the window a real engine would have measured, with sampling
// noise from a seeded source. It keeps the state an extended step needs.
type plant interface {
	step(d Decision) Window
}

// judged is the fraction of a hold that is judged (the rest is warm-up).
const judged = 0.8

// samplesOf returns how many requests a hold at rate sees in its judged
// part.
func samplesOf(rate float64, hold time.Duration) int {
	return int(rate * hold.Seconds() * judged)
}

// stepFunc adapts a plant to Run, accumulating extended steps into one
// window as the engine does.
func stepFunc(p plant) StepFunc {
	if b, ok := p.(*batching); ok {
		// It measures a whole step itself.
		return func(_ context.Context, d Decision) (Window, error) { return b.step(d), nil }
	}
	var acc Window
	return func(_ context.Context, d Decision) (Window, error) {
		if d.Look > 0 {
			d.Hold = d.Look
		}
		w := p.step(d)
		if d.Extend {
			// Merge: counts add, quantiles of the larger sample win.
			w.Samples += acc.Samples
			w.Failures += acc.Failures
			w.OverRT += acc.OverRT
			w.Duration += acc.Duration
		}
		acc = w
		return w, nil
	}
}

// mmc is an M/M/c queue with c servers of rate mu each: its latency
// quantile explodes as the rate nears c·mu.
type mmc struct {
	c     int
	mu    float64
	q     float64
	maxRT time.Duration
	rng   *rand.Rand
}

// erlangC is the probability an arrival waits in an M/M/c queue.
func erlangC(c int, lambda, mu float64) float64 {
	a := lambda / mu
	rho := a / float64(c)
	if rho >= 1 {
		return 1
	}
	sum, term := 0.0, 1.0
	for k := 0; k < c; k++ {
		if k > 0 {
			term *= a / float64(k)
		}
		sum += term
	}
	last := term * a / float64(c) / (1 - rho)
	return last / (sum + last)
}

// tail is P(response > t) in an M/M/c queue: no wait with probability
// 1−C, else an exponential wait at rate θ = c·mu − λ plus the service.
func (m mmc) tail(lambda, t float64) float64 {
	C := erlangC(m.c, lambda, m.mu)
	theta := float64(m.c)*m.mu - lambda
	hypo := (m.mu*math.Exp(-theta*t) - theta*math.Exp(-m.mu*t)) / (m.mu - theta)
	if math.Abs(m.mu-theta) < 1e-9 {
		hypo = (1 + m.mu*t) * math.Exp(-m.mu*t)
	}
	return (1-C)*math.Exp(-m.mu*t) + C*hypo
}

// quantile is the analytic latency quantile at rate lambda.
func (m mmc) quantile(lambda, q float64) time.Duration {
	lo, hi := 0.0, 1.0
	for m.tail(lambda, hi) > 1-q {
		hi *= 2
	}
	for i := 0; i < 100; i++ {
		mid := (lo + hi) / 2
		if m.tail(lambda, mid) > 1-q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return time.Duration(hi * float64(time.Second))
}

// limit is the rate at which the quantile reaches maxRT: the truth a
// latency-limited search must find.
func (m mmc) limit(maxRT time.Duration, q float64) float64 {
	lo, hi := 0.0, float64(m.c)*m.mu*(1-1e-9)
	for i := 0; i < 200; i++ {
		mid := (lo + hi) / 2
		if m.quantile(mid, q) > maxRT {
			hi = mid
		} else {
			lo = mid
		}
	}
	return lo
}

func (m *mmc) step(d Decision) Window {
	rate := d.Rate
	n := samplesOf(rate, d.Hold)
	w := Window{Offered: rate, Achieved: rate, Samples: n, Duration: time.Duration(float64(d.Hold) * judged)}
	capacity := float64(m.c) * m.mu
	if rate >= capacity {
		// Overloaded: the queue grows for the whole step.
		w.Achieved = capacity
		w.Latency = time.Duration(float64(d.Hold) * (rate/capacity - 1 + 0.1))
		w.OverRT = n
		return w
	}
	// Sample the stationary response time n times for a noisy quantile.
	C := erlangC(m.c, rate, m.mu)
	theta := capacity - rate
	lat := make([]float64, n)
	for i := range lat {
		t := m.rng.ExpFloat64() / m.mu
		if m.rng.Float64() < C {
			t += m.rng.ExpFloat64() / theta
		}
		lat[i] = t
	}
	sort.Float64s(lat)
	w.OverRT = n - sort.SearchFloat64s(lat, m.maxRT.Seconds()+1e-12)
	if n > 0 {
		w.Latency = time.Duration(lat[int(math.Ceil(m.q*float64(n)))-1] * float64(time.Second))
	}
	return w
}

// cliff is a latency cliff, as a service past its last worker or a
// cache's working set shows: the p99 is base up to the knee, then grows
// thirteenfold in every 2.7 % of load beyond it (13 ms at 740 req/s, 168
// ms at 760), and the target saturates 4 % past the knee. Latencies are
// exponential about that p99.
type cliff struct {
	knee        float64
	base, maxRT time.Duration
	rng         *rand.Rand
}

func (c *cliff) p99(rate float64) time.Duration {
	x := max(0, rate-c.knee) / (0.027 * c.knee)
	return time.Duration(float64(c.base) * math.Pow(13, x))
}

// limit is the rate at which the p99 reaches maxRT.
func (c *cliff) limit() float64 {
	return c.knee * (1 + 0.027*math.Log(float64(c.maxRT)/float64(c.base))/math.Log(13))
}

func (c *cliff) step(d Decision) Window {
	n := samplesOf(d.Rate, d.Hold)
	w := Window{Offered: d.Rate, Achieved: min(d.Rate, 1.04*c.knee), Samples: n, Duration: time.Duration(float64(d.Hold) * judged)}
	mean := c.p99(min(d.Rate, 1.04*c.knee)).Seconds() / math.Log(100)
	if d.Rate > 1.04*c.knee {
		// Saturated: the queue grows for the whole step.
		mean += d.Hold.Seconds() * (d.Rate/(1.04*c.knee) - 1)
	}
	lat := make([]float64, n)
	for i := range lat {
		lat[i] = c.rng.ExpFloat64() * mean
	}
	sort.Float64s(lat)
	w.OverRT = n - sort.SearchFloat64s(lat, c.maxRT.Seconds()+1e-12)
	if n > 0 {
		w.Latency = time.Duration(lat[int(math.Ceil(0.99*float64(n)))-1] * float64(time.Second))
	}
	return w
}

// rateLimit answers everything up to L per second and rejects the excess
// at once, as nginx limit_req with nodelay does.
type rateLimit struct {
	L   float64
	rng *rand.Rand
}

func (p *rateLimit) step(d Decision) Window {
	n := samplesOf(d.Rate, d.Hold)
	reject := math.Max(0, (d.Rate-p.L)/d.Rate)
	return Window{
		Offered: d.Rate, Achieved: d.Rate, Samples: n, Duration: time.Duration(float64(d.Hold) * judged),
		Failures: binomial(p.rng, n, reject), Latency: 5 * time.Millisecond,
	}
}

// ramp fails a fraction of requests that grows linearly above a knee:
// slope per request/s.
type ramp struct {
	knee, slope float64
	rng         *rand.Rand
}

func (p *ramp) limit(tolerate float64) float64 { return p.knee + tolerate/p.slope }

func (p *ramp) step(d Decision) Window {
	n := samplesOf(d.Rate, d.Hold)
	e := math.Min(1, math.Max(0, (d.Rate-p.knee)*p.slope))
	return Window{
		Offered: d.Rate, Achieved: d.Rate, Samples: n, Duration: time.Duration(float64(d.Hold) * judged),
		Failures: binomial(p.rng, n, e), Latency: 5 * time.Millisecond,
	}
}

// binomial draws Binomial(n, p) by a normal approximation for large n and
// by counting for small.
func binomial(rng *rand.Rand, n int, p float64) int {
	if p <= 0 || n == 0 {
		return 0
	}
	if n < 2000 {
		k := 0
		for i := 0; i < n; i++ {
			if rng.Float64() < p {
				k++
			}
		}
		return k
	}
	mean, sd := float64(n)*p, math.Sqrt(float64(n)*p*(1-p))
	return max(0, min(n, int(math.Round(mean+sd*rng.NormFloat64()))))
}
