package controller

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// drifting is a plant whose capacity changes after a number of steps: p
// until then, then q.
type drifting struct {
	p, q  plant
	after int
	steps int
}

func (d *drifting) step(dec Decision) Window {
	d.steps++
	if d.steps > d.after {
		return d.q.step(dec)
	}
	return d.p.step(dec)
}

// tracking is how a tracker followed a limit over one stretch of steps
// at one true capacity.
type tracking struct {
	// settle is the steps until the rate stayed within 5 % of the truth;
	// overshoot the largest excess over it, relative; steady the mean
	// relative distance from it over the stretch's last 10 steps.
	settle            int
	overshoot, steady float64
}

func measure(rates []float64, truth float64) tracking {
	tr := tracking{settle: len(rates)}
	for i := len(rates) - 1; i >= 0 && math.Abs(rates[i]-truth)/truth <= 0.05; i-- {
		tr.settle = i
	}
	// The first step of a stretch was chosen before the truth changed.
	for _, r := range rates[1:] {
		tr.overshoot = math.Max(tr.overshoot, (r-truth)/truth)
	}
	last := rates[max(0, len(rates)-10):]
	for _, r := range last {
		tr.steady += math.Abs(r-truth) / truth / float64(len(last))
	}
	return tr
}

// The PID tracker against EAS's ±delta revise, on an M/M/8 queue under a
// p99 limit whose service rate drops by a fifth after 40 steps: settling
// after the first failure and after the drop, overshoot, and
// steady-state error.
func TestTrackerFollowsTheLimitBetterThanDelta(t *testing.T) {
	lim := Limits{Quantile: 0.99, FaultTolerate: 0.001, MaxRT: 100 * time.Millisecond}
	for seed := uint64(1); seed <= 3; seed++ {
		before := &mmc{c: 8, mu: 100, q: 0.99, maxRT: lim.MaxRT, rng: rand.New(rand.NewPCG(seed, 1))}
		after := &mmc{c: 8, mu: 80, q: 0.99, maxRT: lim.MaxRT, rng: rand.New(rand.NewPCG(seed, 2))}
		t1, t2 := before.limit(lim.MaxRT, 0.99), after.limit(lim.MaxRT, 0.99)
		var got [2][2]tracking
		for i, bang := range []bool{false, true} {
			p := &drifting{p: before, q: after, after: 40}
			before.rng, after.rng = rand.New(rand.NewPCG(seed, 1)), rand.New(rand.NewPCG(seed, 2))
			sc := NewScan(ScanConfig{Min: 100, Max: 100000, Delta: 0.05 * t1, Interval: 5 * time.Second, Action: Revise, Bang: bang, Limits: lim})
			res, err := Run(context.Background(), sc, lim, 80*5*time.Second, stepFunc(p), nil)
			if err != nil {
				t.Fatal(err)
			}
			var rates []float64
			first := -1
			for j, s := range res.Steps {
				rates = append(rates, s.Decision.Rate)
				if first < 0 && s.Verdict == Fail {
					first = j
				}
			}
			if first < 0 || first >= 40 || len(rates) != 80 {
				t.Fatalf("seed %d: first failure at step %d of %d", seed, first+1, len(rates))
			}
			got[i][0], got[i][1] = measure(rates[first:40], t1), measure(rates[40:], t2)
		}
		name := [2]string{"PID", "±delta"}
		for i := range got {
			t.Logf("seed %d %-6s at %.0f/s: settles in %2d steps, overshoot %5.1f %%, steady error %4.1f %%; after the drop to %.0f/s: %2d steps, %5.1f %%, %4.1f %%",
				seed, name[i], t1, got[i][0].settle, 100*got[i][0].overshoot, 100*got[i][0].steady,
				t2, got[i][1].settle, 100*got[i][1].overshoot, 100*got[i][1].steady)
		}
		pid, delta := got[0], got[1]
		for k, stretch := range []string{"before the drop", "after it"} {
			if pid[k].steady > delta[k].steady {
				t.Errorf("seed %d %s: PID steady error %.1f %% over ±delta's %.1f %%", seed, stretch, 100*pid[k].steady, 100*delta[k].steady)
			}
			if pid[k].steady > 0.05 {
				t.Errorf("seed %d %s: PID steady error %.1f %%, want within 5 %%", seed, stretch, 100*pid[k].steady)
			}
		}
	}
}

// Auto with Track holds its confirmed answer for that long, tracking the
// limit: when the capacity drops during the hold, the load follows it.
func TestAutoHoldsItsAnswer(t *testing.T) {
	lim := Limits{Quantile: 0.99, FaultTolerate: 0.001, MaxRT: 100 * time.Millisecond}
	before := &mmc{c: 8, mu: 100, q: 0.99, maxRT: lim.MaxRT, rng: rand.New(rand.NewPCG(1, 1))}
	after := &mmc{c: 8, mu: 80, q: 0.99, maxRT: lim.MaxRT, rng: rand.New(rand.NewPCG(1, 2))}
	p := &drifting{p: before, q: after, after: 1 << 30}
	var steps int
	auto := NewAuto(AutoConfig{Start: 100, Hold: 5 * time.Second, Limits: lim, Track: 150 * time.Second})
	sf := stepFunc(p)
	res, err := Run(context.Background(), auto, lim, time.Hour, func(ctx context.Context, d Decision) (Window, error) {
		if d.Phase == PhaseTrack && !d.Extend {
			steps++
			if steps == 10 {
				p.after = p.steps // the service slows from here on
			}
		}
		return sf(ctx, d)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != Converged || steps != 30 {
		t.Fatalf("status %v after %d tracking steps, want converged after 30 (150 s of 5 s steps)", res.Status, steps)
	}
	truth := after.limit(lim.MaxRT, 0.99)
	last := res.Steps[len(res.Steps)-5:]
	for _, s := range last {
		if s.Decision.Phase != PhaseTrack || math.Abs(s.Decision.Rate-truth)/truth > 0.08 {
			t.Errorf("step %d (%s) at %.0f/s, want tracking the new limit %.0f/s", s.Index, s.Decision.Phase, s.Decision.Rate, truth)
		}
	}
	// The capacity drifted down: the answer is under the failures at
	// the old one.
	if res.Capacity > truth*1.05 {
		t.Errorf("capacity %.0f/s, over the drifted limit %.0f/s", res.Capacity, truth)
	}
}
