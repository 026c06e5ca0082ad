package controller

import (
	"context"
	"testing"
	"time"
)

// hung is a target that accepts every request and never answers: each
// judged request is still pending at the step's end, aged by what is left
// of the step, and its backlog grows by everything sent. Only requests
// scheduled in the judged part are samples, so a rate low enough sends
// none there.
type hung struct{ inFlight int }

func (h *hung) step(d Decision) Window {
	rate := d.Load()
	sent := int(rate * d.Hold.Seconds())
	n := samplesOf(rate, d.Hold)
	w := Window{
		Offered: rate, Duration: time.Duration(float64(d.Hold) * judged), Warmup: time.Duration(float64(d.Hold) * (1 - judged)),
		Samples: n, Pending: n, Latency: d.Hold / 2, OverRT: n, TTFT: d.Hold / 2, OverTTFT: n,
		InFlightStart: h.inFlight + sent - n, InFlightEnd: h.inFlight + sent,
	}
	if n == 0 {
		w.Latency, w.OverRT, w.TTFT, w.OverTTFT = 0, 0, 0, 0
	}
	h.inFlight += sent
	return w
}

// Auto against a target that never answers offers only loads it can send,
// and ends with no passing load, whatever limits it judges by.
func TestAutoAgainstAHungTarget(t *testing.T) {
	for _, c := range []struct {
		name  string
		start float64
		hold  time.Duration
		lim   Limits
	}{
		// A latency limit at p90: the first step fails, saturated with no
		// goodput.
		{"http p90", 100, 5 * time.Second, Limits{MaxRT: 200 * time.Millisecond, Quantile: 0.9, FaultTolerate: 0.001, MinTail: 5}},
		// An LLM API: one request a second in 15 s steps, judged on TTFT.
		{"llm", 1, 15 * time.Second, Limits{MaxTTFT: time.Second, Quantile: 0.99, FaultTolerate: 0.001, MinTail: 5}},
		// Only an error budget: the backlog alone fails the steps.
		{"errors only", 100, 5 * time.Second, Limits{Quantile: 0.99, FaultTolerate: 0.001, MinTail: 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := NewAuto(AutoConfig{Start: c.start, Max: 10000, Hold: c.hold, Limits: c.lim})
			h := &hung{}
			steps := 0
			res, err := Run(context.Background(), a, c.lim, time.Hour, func(ctx context.Context, d Decision) (Window, error) {
				steps++
				if d.Load() <= 0 {
					t.Fatalf("step %d offers %v: no load", steps, d.Load())
				}
				return h.step(d), nil
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != NotFound || res.Capacity != 0 {
				t.Errorf("status %v, capacity %v after %d steps; want no passing load and none", res.Status, res.Capacity, steps)
			}
			for _, s := range res.Steps {
				if s.Verdict == Pass {
					t.Errorf("step %d at %v/s with %d judged samples passed", s.Index, s.Decision.Load(), s.Window.Samples)
				}
			}
		})
	}
}

// A step without a judged sample is no evidence: however long it was
// held, it does not pass.
func TestNoSamplesIsNoPass(t *testing.T) {
	lim := DefaultLimits()
	w := Window{Offered: 0.01, Duration: 4 * time.Second, Warmup: time.Second}
	if v, _ := lim.JudgeAnyway(w); v == Pass {
		t.Errorf("an empty step is judged %v", v)
	}
}
