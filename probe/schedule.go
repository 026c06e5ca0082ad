package probe

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// A Schedule yields the gaps between scheduled sends at a given rate. The
// engine adds them to an absolute time, so pacing never drifts with send
// latency. Not safe for concurrent use: the engine's scheduler owns it.
type Schedule interface {
	Gap(rate float64) time.Duration
}

// NewSchedule returns the arrival process named kind: "constant" gaps,
// "poisson" (exponential gaps) or "gamma" with the given burstiness (its
// shape: 1 is Poisson, smaller is burstier, larger more uniform). Random
// processes are seeded, so the same seed gives the same sends.
func NewSchedule(kind string, burstiness float64, seed uint64) (Schedule, error) {
	rng := rand.New(rand.NewPCG(seed, 0x63617066696e6472)) // "capfindr"
	switch kind {
	case "constant":
		return &constant{}, nil
	case "poisson":
		return &poisson{rng: rng}, nil
	case "gamma":
		if !(burstiness > 0) || math.IsInf(burstiness, 0) {
			return nil, fmt.Errorf("probe: gamma burstiness must be positive, got %v", burstiness)
		}
		return &gamma{rng: rng, shape: burstiness}, nil
	}
	return nil, fmt.Errorf("probe: unknown arrival process %q (want constant, poisson or gamma)", kind)
}

// residue turns float nanosecond gaps into whole ones without losing the
// fractions, so N gaps at rate r sum to N/r within a nanosecond.
type residue float64

func (r *residue) round(ns float64) time.Duration {
	ns += float64(*r)
	whole := math.Floor(ns)
	*r = residue(ns - whole)
	return time.Duration(whole)
}

type constant struct{ res residue }

func (c *constant) Gap(rate float64) time.Duration { return c.res.round(1e9 / rate) }

type poisson struct {
	rng *rand.Rand
	res residue
}

func (p *poisson) Gap(rate float64) time.Duration {
	return p.res.round(p.rng.ExpFloat64() * 1e9 / rate)
}

// gamma draws gaps from Gamma(shape, 1/(shape·rate)): mean 1/rate and
// coefficient of variation 1/√shape.
type gamma struct {
	rng   *rand.Rand
	shape float64
	res   residue
}

func (g *gamma) Gap(rate float64) time.Duration {
	return g.res.round(gammaSample(g.rng, g.shape) / g.shape * 1e9 / rate)
}

// gammaSample draws from Gamma(shape, 1) by Marsaglia and Tsang's method,
// boosting shapes under one with U^(1/shape).
func gammaSample(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := rng.Float64()
		return gammaSample(rng, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

var (
	_ Schedule = (*constant)(nil)
	_ Schedule = (*poisson)(nil)
	_ Schedule = (*gamma)(nil)
)
