package probe

import (
	"math"
	"slices"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// stepAt is the load of step n at rate r (a ramp to r1 when r1 > 0),
// starting at start, over hold.
func stepAt(n int32, start int64, r, r1 float64, hold time.Duration) stepLoad {
	l := stepLoad{step: n, start: start, rate: r, rateEnd: r1, concurrency: 8}
	if r1 > 0 {
		l.slope = (r1 - r) / hold.Seconds()
	}
	return l
}

// arrivals takes the plan's arrivals due before until, as nanoseconds.
func arrivals(p *plan, until int64) []int64 {
	var out []int64
	for {
		due, paced := p.due()
		if !paced || due >= until {
			return out
		}
		_, at := p.take(due)
		out = append(out, at)
	}
}

func TestPlanTimesArrivals(t *testing.T) {
	type change struct {
		at     int64   // the step's start
		r, r1  float64 // its rate, and a ramp's end rate
		until  int64   // take arrivals due before this
		expect []int64 // their scheduled times
	}
	for _, c := range []struct {
		name  string
		steps []change
	}{
		{
			// 1000/s from 0: one every millisecond, the first at the start.
			name:  "constant",
			steps: []change{{at: 0, r: 1000, until: 5 * ms, expect: []int64{0, 1 * ms, 2 * ms, 3 * ms, 4 * ms}}},
		},
		{
			// A step at the same rate continues the schedule: the
			// arrival due at 12.5 ms stays there, none is added at 11 ms.
			name: "phase carried at the same rate",
			steps: []change{
				{at: 0, r: 400, until: 11 * ms, expect: []int64{0, 2500000, 5 * ms, 7500000, 10 * ms}},
				{at: 11 * ms, r: 400, until: 18 * ms, expect: []int64{12500000, 15 * ms, 17500000}},
			},
		},
		{
			// Doubling the rate 5 ms into a 10 ms gap leaves half an
			// arrival to run at 200/s: 2.5 ms, then 5 ms gaps.
			name: "phase carried to a new rate",
			steps: []change{
				{at: 0, r: 100, until: 25 * ms, expect: []int64{0, 10 * ms, 20 * ms}},
				{at: 25 * ms, r: 200, until: 38 * ms, expect: []int64{27500000, 32500000, 37500000}},
			},
		},
		{
			// A ramp from 0 to 200/s over a second has n arrivals by
			// √(n/100) s: 0, 100, 141.4, 173.2 ms …
			name:  "ramp from zero",
			steps: []change{{at: 0, r: 0, r1: 200, until: 240 * ms, expect: []int64{0, 100 * ms, 141421356, 173205080, 200 * ms, 223606797}}},
		},
		{
			// A burst has no schedule: nothing is due.
			name:  "burst",
			steps: []change{{at: 0, r: math.Inf(1), until: time.Hour.Nanoseconds(), expect: nil}},
		},
		{
			// Sends a step still owed are dropped: the next starts on time.
			name: "owed sends dropped",
			steps: []change{
				{at: 0, r: 1000, until: 1, expect: []int64{0}},
				{at: 10 * ms, r: 500, until: 15 * ms, expect: []int64{10 * ms, 12 * ms, 14 * ms}},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := NewSchedule("constant", 1, 0)
			p := newPlan(s)
			for i, st := range c.steps {
				p.set(stepAt(int32(i+1), st.at, st.r, st.r1, time.Second))
				got := arrivals(p, st.until)
				if len(got) != len(st.expect) {
					t.Fatalf("step %d: arrivals %v, want %v", i+1, got, st.expect)
				}
				for k := range got {
					if d := got[k] - st.expect[k]; d < -1 || d > 1 {
						t.Fatalf("step %d: arrivals %v, want %v", i+1, got, st.expect)
					}
				}
			}
		})
	}
}

// A Poisson schedule at the same rate goes on with the draw it had: the
// arrivals across a step change are those of one unbroken run.
func TestPlanCarriesPoissonAcrossSteps(t *testing.T) {
	one, _ := NewSchedule("poisson", 1, 7)
	two, _ := NewSchedule("poisson", 1, 7)
	whole, split := newPlan(one), newPlan(two)
	whole.set(stepAt(1, 0, 300, 0, time.Second))
	want := arrivals(whole, 2*time.Second.Nanoseconds())
	split.set(stepAt(1, 0, 300, 0, time.Second))
	got := arrivals(split, time.Second.Nanoseconds())
	split.set(stepAt(2, time.Second.Nanoseconds(), 300, 0, time.Second))
	got = append(got, arrivals(split, 2*time.Second.Nanoseconds())...)
	if len(got) != len(want) || len(got) < 500 {
		t.Fatalf("%d arrivals split at a step, %d unbroken", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("arrival %d at %d split, %d unbroken", i, got[i], want[i])
		}
	}
}

// Every arrival is numbered in schedule order, dropped ones included,
// whatever the step: open loop,
// burst, closed loop and after a pause.
func TestPlanNumbersEveryArrival(t *testing.T) {
	s, _ := NewSchedule("constant", 1, 0)
	p := newPlan(s)
	var seqs []int64
	p.set(stepAt(1, 0, 1000, 0, time.Second))
	for range 3 {
		due, _ := p.due()
		n, _ := p.take(due)
		seqs = append(seqs, n)
	}
	// The arrivals the first step still owed at 3 and 4 ms are dropped,
	// and keep their numbers.
	p.set(stepAt(2, 5*ms, math.Inf(1), 0, time.Second))
	if p.dropped != 2 {
		t.Errorf("%d arrivals dropped, want 2", p.dropped)
	}
	n, at := p.take(7 * ms)
	seqs = append(seqs, n)
	if at != 5*ms {
		t.Errorf("a burst's arrival at %d, want its step's start", at)
	}
	p.pause()
	if _, paced := p.due(); paced {
		t.Error("a paused plan has an arrival due")
	}
	p.set(stepAt(3, 9*ms, 0, 0, time.Second)) // closed loop
	n, at = p.take(9500000)
	seqs = append(seqs, n)
	if at != 9500000 {
		t.Errorf("a closed-loop arrival at %d, want when it was taken", at)
	}
	if want := []int64{1, 2, 3, 6, 7}; !slices.Equal(seqs, want) {
		t.Fatalf("sequence numbers %v, want %v", seqs, want)
	}
	// After a pause the schedule starts afresh at the step's start.
	p.pause()
	p.set(stepAt(4, 20*ms, 100, 0, time.Second))
	if due, _ := p.due(); due != 20*ms {
		t.Errorf("after a pause the first arrival is due at %d, want the step's start", due)
	}
}
