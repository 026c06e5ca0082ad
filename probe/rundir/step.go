package rundir

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// StepStats are one step's statistics: what the live run judged, what
// analysis rebuilds from the records and what a coordinator merges from
// many generators. One Acc makes them in every case.
//
// The judged requests are those scheduled in [JudgedStart, JudgedEnd). A
// judged request that had not ended by End is pending: it counts as a
// sample whose latency is its age at End, a lower bound, exact as to
// whether it exceeds any limit shorter than that age.
type StepStats struct {
	Step  int
	Phase string
	// AskedBy is who set the step's load while the run went on ("page"
	// or "command"); empty when the controller chose it.
	AskedBy string
	// Offered is the requests per second offered (a ramp's mean; 0 in
	// closed loop); RateEnd the rate a ramp ended at (0 at one rate);
	// Concurrency the in-flight bound or the closed-loop workers.
	Offered     float64
	RateEnd     float64
	Concurrency int

	// Saturated is set when the target held every in-flight slot.
	Saturated bool
	// ScheduleLag is how far behind its open-loop schedule the generator
	// was at the step's end: the end less the scheduled time of the next
	// send still due.
	ScheduleLag time.Duration
	// InFlightStart and InFlightEnd are the requests in flight (of any
	// step) as the judged part began and at the step's end. A target that
	// keeps up holds their number steady.
	InFlightStart, InFlightEnd int64
	// GenCPU is the CPU time the whole process used during the step (user
	// and system), and Goroutines its goroutines at the cut: what the
	// generator cost, so that a generator-bound step says so and a leak
	// shows over a long run.
	GenCPU     time.Duration
	Goroutines int
	// Server is the target's own metrics over the step, when the run
	// scraped them (read back from server.parquet).
	Server map[string]ServerStat

	// Start and End are the step's times since the run's zero; the
	// judged requests were scheduled in [JudgedStart, JudgedEnd), and Mid
	// splits them into the halves whose latencies Early and Late compare.
	Start, End, JudgedStart, JudgedEnd, Mid time.Duration

	// Sent counts the requests the step dispatched; Completed the
	// responses (of any step) that ended during it. Turns counts the sent
	// requests that were later turns of conversations: the schedule
	// offered the others.
	Sent, Completed, Turns int64
	// Samples counts the judged requests: OK + Failed + Pending.
	Samples, OK, Failed, Pending int64
	// Errors counts the judged failures by class ("timeout", "status 503").
	Errors map[string]int64
	// Good counts the judged requests that succeeded within every limit
	// of the Judging: the goodput's numerator.
	Good int64

	// Latency (end − scheduled) of the judged requests, and of the halves
	// of the judged stretch before and after Mid; SendLag (sent −
	// scheduled) of the requests after the warm-up that had ended by
	// End; TTFT
	// (first token − scheduled), TPOT ((end − first token) / (output
	// tokens − 1)) and ITL (each request's largest gap between tokens) of
	// the judged requests that streamed, nil when none did. All in
	// microseconds; the halves and the send lag at two significant digits
	// (they are compared, not judged against a limit), the rest at three.
	Latency, Early, Late, SendLag, TTFT, TPOT, ITL *hdrhistogram.Histogram

	// PromptTokens and OutputTokens sum the tokens of the responses that
	// ended during the step; Events, NewConns and bytes are over the
	// step's requests that had ended by End.
	PromptTokens, OutputTokens, Events, NewConns int64
	BytesOut, BytesIn                            int64
	// Busy is the summed latency of the judged requests: over the judged
	// time it is the mean number in flight (Little's law).
	Busy time.Duration
}

// newStepStats returns empty statistics with their histograms; those of
// streams (TTFT, TPOT, ITL) are made when first used.
func newStepStats() StepStats {
	return StepStats{
		Errors:  map[string]int64{},
		Latency: NewHistogram(), Early: newCoarseHistogram(), Late: newCoarseHistogram(), SendLag: newCoarseHistogram(),
	}
}

// hists lists the histograms of s, in a fixed order.
func (s *StepStats) hists() []**hdrhistogram.Histogram {
	return []**hdrhistogram.Histogram{&s.Latency, &s.Early, &s.Late, &s.SendLag, &s.TTFT, &s.TPOT, &s.ITL}
}

// Duration is the step's length.
func (s *StepStats) Duration() time.Duration { return s.End - s.Start }

// Judged is the length of the judged stretch.
func (s *StepStats) Judged() time.Duration { return s.JudgedEnd - s.JudgedStart }

// Achieved is the rate at which responses completed during the step.
func (s *StepStats) Achieved() float64 { return perSecond(s.Completed, s.Duration()) }

// PerOffer is the requests a step sent for each the schedule offered: 1,
// or for conversations their turns.
func (s *StepStats) PerOffer() float64 {
	if s.Turns == 0 || s.Sent <= s.Turns {
		return 1
	}
	return float64(s.Sent) / float64(s.Sent-s.Turns)
}

// Goodput is the judged requests per second that met every limit.
func (s *StepStats) Goodput() float64 { return perSecond(s.Good, s.Judged()) }

// OutputRate is the output tokens per second of the responses that ended
// during the step.
func (s *StepStats) OutputRate() float64 { return perSecond(s.OutputTokens, s.Duration()) }

// ErrorRate is the judged failures over the judged samples. Pending
// requests are not failures (yet).
func (s *StepStats) ErrorRate() float64 {
	if s.Samples == 0 {
		return 0
	}
	return float64(s.Failed) / float64(s.Samples)
}

// InFlight is the mean number of judged requests in flight, by Little's
// law: the summed latency over the judged time.
func (s *StepStats) InFlight() float64 {
	if d := s.Judged(); d > 0 {
		return s.Busy.Seconds() / d.Seconds()
	}
	return 0
}

// Load is the step's offered load: its rate, or its concurrency in
// closed loop.
func (s *StepStats) Load() float64 {
	if s.Offered > 0 {
		return s.Offered
	}
	return float64(s.Concurrency)
}

// Rate is the request rate the step stands for in an answer: the rate
// offered in open loop, the throughput delivered in closed loop.
func (s *StepStats) Rate() float64 {
	if s.Offered > 0 {
		return s.Offered
	}
	return s.Achieved()
}

// Behind reports whether the generator ended the step more than 3 % of
// it behind its schedule. The lag is measured against the schedule
// itself, so a random (Poisson) schedule that happened to draw fewer
// sends than rate × duration is not behind.
func (s *StepStats) Behind() bool {
	d := s.Duration()
	return d > 0 && s.ScheduleLag*100 > d*3
}

// Rising reports whether the step's latency was still climbing: the
// median of its judged stretch's second half over twice that of its first,
// and by more than a millisecond. A queue that is building has not
// reached the latency it would hold, so such a step is not steady.
func (s *StepStats) Rising() (early, late time.Duration, rising bool) {
	early, late = Quantile(s.Early, 0.5), Quantile(s.Late, 0.5)
	return early, late, early > 0 && late > 2*early && late-early > time.Millisecond
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Lagging reports whether the step's sends left late: send lag p99 over
// maxLag.
func (s *StepStats) Lagging(maxLag time.Duration) bool {
	return Quantile(s.SendLag, 0.99) > maxLag
}
