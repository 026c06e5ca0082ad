package probe

import (
	"math"
	"testing"
	"time"
)

// gapStats draws n gaps at rate and returns their mean (s) and coefficient
// of variation.
func gapStats(s Schedule, rate float64, n int) (mean, cv float64) {
	var sum, sq float64
	for range n {
		g := s.Gap(rate).Seconds()
		sum += g
		sq += g * g
	}
	mean = sum / float64(n)
	return mean, math.Sqrt(sq/float64(n)-mean*mean) / mean
}

func TestSchedulesHaveTheirRateAndShape(t *testing.T) {
	const rate, n = 250.0, 200_000
	for _, c := range []struct {
		kind       string
		burstiness float64
		cv         float64 // the process's coefficient of variation
	}{
		// Constant gaps: no variation at all.
		{"constant", 1, 0},
		// Exponential gaps: cv 1.
		{"poisson", 1, 1},
		// Gamma with shape k: cv 1/√k; k = 1 is Poisson.
		{"gamma", 1, 1},
		{"gamma", 0.25, 2},
		{"gamma", 4, 0.5},
	} {
		s, err := NewSchedule(c.kind, c.burstiness, 7)
		if err != nil {
			t.Fatal(err)
		}
		mean, cv := gapStats(s, rate, n)
		// Sampling error of the mean is cv/√n ≈ 0.5 % at cv 2.
		if math.Abs(mean*rate-1) > 0.015 {
			t.Errorf("%s(%g): mean gap %.4g s, want 1/%g", c.kind, c.burstiness, mean, rate)
		}
		if math.Abs(cv-c.cv) > 0.03*math.Max(c.cv, 1) {
			t.Errorf("%s(%g): cv %.3f, want %.3f", c.kind, c.burstiness, cv, c.cv)
		}
	}
}

func TestConstantScheduleDoesNotDrift(t *testing.T) {
	// 1e9/3 ns is not whole: rounding each gap would lose a third of a
	// nanosecond per send; the residue carries it.
	s, _ := NewSchedule("constant", 1, 0)
	var total time.Duration
	for range 3_000_000 {
		total += s.Gap(3)
	}
	if want := time.Duration(1e15); total < want-1 || total > want+1 {
		t.Errorf("3e6 gaps at 3/s sum to %v, want %v", total, want)
	}
}

func TestSchedulesAreSeeded(t *testing.T) {
	for _, kind := range []string{"poisson", "gamma"} {
		a, _ := NewSchedule(kind, 0.5, 42)
		b, _ := NewSchedule(kind, 0.5, 42)
		c, _ := NewSchedule(kind, 0.5, 43)
		same, differ := true, false
		for range 1000 {
			ga, gb, gc := a.Gap(100), b.Gap(100), c.Gap(100)
			same = same && ga == gb
			differ = differ || ga != gc
		}
		if !same || !differ {
			t.Errorf("%s: same seed same gaps %v, other seed other gaps %v", kind, same, differ)
		}
	}
}

func TestNewScheduleRefusesBadInput(t *testing.T) {
	for _, c := range []struct {
		kind       string
		burstiness float64
	}{
		{"uniform", 1},         // no such process
		{"gamma", 0},           // a shape must be positive
		{"gamma", -1},          // likewise
		{"gamma", math.Inf(1)}, // and finite
		{"gamma", math.NaN()},  // and a number
	} {
		if _, err := NewSchedule(c.kind, c.burstiness, 1); err == nil {
			t.Errorf("NewSchedule(%q, %v) accepted", c.kind, c.burstiness)
		}
	}
}

func BenchmarkScheduleGap(b *testing.B) {
	for _, kind := range []string{"constant", "poisson", "gamma"} {
		b.Run(kind, func(b *testing.B) {
			s, _ := NewSchedule(kind, 0.5, 1)
			b.ReportAllocs()
			for b.Loop() {
				s.Gap(1000)
			}
		})
	}
}
