package probe

import "math"

// plan is the pacing of a run's arrivals, a pure value: given each step's
// load, when every arrival is due and its sequence number. The scheduler
// goroutine only sleeps until the time the plan gives and sends; tests
// check the plan without a clock.
//
// Open-loop gaps come from a Schedule (constant, Poisson, gamma), added to
// absolute times so that pacing never drifts. A ramp advances through its
// count of arrivals (rampAt). When a step changes the load, the arrival
// in progress keeps its phase: the part of its gap still to run, counted
// in arrivals, is run at the new rate, so a step at the same rate
// continues the schedule exactly and a new rate takes over smoothly,
// without an extra send at the step's start. Sends an old step still
// owed when the next begins are dropped. A burst (infinite rate),
// closed loop and pauses have no schedule.
type plan struct {
	gaps Schedule
	l    stepLoad
	// paced is set while next is the due time of the next arrival.
	paced bool
	next  int64
	// pos is, on a ramp, the arrivals due by next, counted from the
	// step's start.
	pos float64
	// seq is the number of the next arrival; dropped counts the arrivals
	// dropped since the scheduler last looked (their payloads are drawn
	// all the same, so the arrival after them has the payload it would
	// have had).
	seq, dropped int64
}

func newPlan(gaps Schedule) *plan { return &plan{gaps: gaps, seq: 1} }

// set starts a step of load l at l.start.
func (p *plan) set(l stepLoad) {
	// What is left of the arrival in progress, in arrivals at the old
	// rate; negative when the old step owed sends.
	carried := 0.0
	if p.paced {
		p.skip(l.start)
		carried = float64(p.next-l.start) / 1e9 * rateAt(p.l, l.start)
	}
	prev := p.paced
	same := prev && p.l.rateEnd == 0 && l.rateEnd == 0 && p.l.rate == l.rate
	p.l, p.paced, p.pos = l, openLoop(l) && !math.IsInf(l.rate, 1), 0
	switch {
	case !p.paced, same:
		// Unpaced, or the same rate: the schedule goes on as it was.
	case l.rateEnd > 0:
		p.pos = carried
		p.next = l.start + rampAt(l, p.pos)
	case prev:
		p.next = l.start + int64(carried/l.rate*1e9)
	default:
		p.next = l.start
	}
}

// pause stops the schedule; the next step starts afresh.
func (p *plan) pause() { p.paced = false }

// skip drops the arrivals due before t, keeping the schedule's phase: a
// step that fell behind is judged so, and the next starts on time.
func (p *plan) skip(t int64) {
	for p.paced && p.next < t {
		p.advance()
		p.dropped++
	}
}

// advance moves the schedule past the arrival due next.
func (p *plan) advance() {
	p.seq++
	if p.l.rateEnd > 0 {
		p.pos += p.gaps.Gap(1).Seconds()
		p.next = p.l.start + rampAt(p.l, p.pos)
	} else {
		p.next += int64(p.gaps.Gap(p.l.rate))
	}
}

// due returns when the next arrival is due, and whether sends are paced
// at all: unpaced, the next is sent as soon as a slot is free.
func (p *plan) due() (int64, bool) { return p.next, p.paced }

// take gives the next arrival its sequence number and scheduled time
// (now, when unpaced; a burst is scheduled at its step's start), and
// moves the schedule past it.
func (p *plan) take(now int64) (seq, scheduled int64) {
	seq = p.seq
	switch {
	case p.paced:
		scheduled = p.next
		p.advance()
		return seq, scheduled
	case openLoop(p.l):
		scheduled = p.l.start
	default:
		scheduled = now
	}
	p.seq++
	return seq, scheduled
}

func openLoop(l stepLoad) bool { return l.rate > 0 || l.rateEnd > 0 }

// rateAt is the open-loop rate of step l at time t, per second.
func rateAt(l stepLoad, t int64) float64 {
	return l.rate + l.slope*float64(t-l.start)/1e9
}

// rampAt is when, in nanoseconds from the start of a ramp step, n
// requests are due: the t at which r0·t + slope·t²/2 = n, written so
// that it holds for a flat, rising or falling ramp and for r0 = 0. The
// schedule's own gaps, drawn at one request a second, advance n, so
// Poisson and gamma arrivals keep their shape on the ramp. A falling
// ramp that never reaches n is due after the step.
func rampAt(l stepLoad, n float64) int64 {
	d := l.rate*l.rate + 2*l.slope*n
	if n <= 0 {
		return 0
	}
	if d < 0 {
		return math.MaxInt64 / 2
	}
	return int64(2 * n / (l.rate + math.Sqrt(d)) * 1e9)
}
