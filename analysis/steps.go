package analysis

import (
	"time"

	"github.com/capfinder/capfinder/probe"
)

// ms converts a duration to float milliseconds, the unit of summary.json.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// StepFromWindow summarises a step the engine measured, with the verdict
// and limit the controller gave it.
func StepFromWindow(w probe.Window, phase, verdict, limitedBy string) Step {
	s := Step{
		Step:          w.Step,
		Phase:         phase,
		OfferedQPS:    w.Rate,
		Concurrency:   w.Concurrency,
		AchievedQPS:   w.Achieved(),
		StartS:        w.Start.Seconds(),
		EndS:          w.End.Seconds(),
		JudgedStartS:  w.JudgedStart.Seconds(),
		JudgedEndS:    w.JudgedEnd.Seconds(),
		Saturated:     w.Saturated,
		ScheduleLagMs: ms(w.ScheduleLag),
		Sent:          w.Sent,
		Samples:       w.Samples,
		Failures:      w.Failed,
		P50Ms:         ms(probe.Quantile(w.Latency, 0.50)),
		P90Ms:         ms(probe.Quantile(w.Latency, 0.90)),
		P99Ms:         ms(probe.Quantile(w.Latency, 0.99)),
		P999Ms:        ms(probe.Quantile(w.Latency, 0.999)),
		ErrorRate:     w.ErrorRate(),
		Errors:        w.Errors,
		SendLagP99:    ms(probe.Quantile(w.SendLag, 0.99)),
		RateEndQPS:    w.RateEnd,
		InFlightStart: w.InFlightStart,
		InFlightEnd:   w.InFlightEnd,
		Verdict:       verdict,
		LimitedBy:     limitedBy,
	}
	if w.Latency != nil && w.Latency.TotalCount() > 0 {
		s.MaxMs = ms(time.Duration(w.Latency.Max()) * time.Microsecond)
		s.MeanMs = w.Latency.Mean() / 1e3
	}
	return s
}
