package controller

import "time"

// Window is what the controller sees of one finished step: the judged part
// of it (after warm-up), already reduced by the caller to the limits'
// quantile. It carries no clock and no histogram, so controllers are pure.
type Window struct {
	// Offered is the load the step was asked for: requests per second in
	// rate modes, concurrent requests in closed-loop modes.
	Offered float64
	// Achieved is the rate at which responses completed, per second.
	Achieved float64
	// Duration is the judged length of the step (hold minus warm-up).
	Duration time.Duration
	// Samples is how many requests were judged; Failures how many of them
	// failed (non-2xx, timeout, transport error); Pending how many had no
	// answer yet when the step ended.
	Samples, Failures, Pending int
	// LocalFailures counts the failures that were the generator's: it ran
	// out of file descriptors or local ports.
	LocalFailures int
	// Latency is the end-to-end latency at Limits.Quantile, measured from
	// the scheduled send time. TTFT and TPOT are at the same quantile and
	// zero when the protocol does not measure them.
	Latency, TTFT, TPOT time.Duration
	// OverRT, OverTTFT and OverTPOT count judged requests over
	// Limits.MaxRT, MaxTTFT and MaxTPOT: they let a step fail before it
	// has samples enough for its quantile.
	OverRT, OverTTFT, OverTPOT int
	// Behind is set when the generator ended the step owing more than
	// 3 % of it to its schedule; Lagging when its sends left late (send lag p99 over about a
	// millisecond). Saturated is set when every in-flight slot was taken
	// by requests the target had not answered, which blames the target
	// rather than the generator.
	Behind, Lagging, Saturated bool
	// SendLag is the send lag's p99: how late sends left their schedule.
	SendLag time.Duration
	// Warmup is how long the step ran before its judged part. RateEnd is
	// the rate a ramp step ended at (Offered is then its mean), zero for
	// a step at one rate.
	Warmup  time.Duration
	RateEnd float64
	// InFlightStart and InFlightEnd are the requests in flight as the
	// judged part began and at the step's end: their growth is the
	// backlog of a target that could not keep up (see Limits.Judge).
	InFlightStart, InFlightEnd int
	// Drained is how long the caller waited, before the step began, for
	// the last step's backlog to drain: it counts against Run's budget.
	Drained time.Duration
	// Carried is set when the step completed more than it was offered,
	// beyond chance: it was still answering an earlier step's backlog.
	Carried bool
	// Rising is set when the step's latency was still climbing (the
	// median of its second half over twice that of its first): a queue
	// building, which a short step can pass before it breaks a limit.
	Rising bool
}

// Decision is the load for the next step.
type Decision struct {
	// Rate is the offered requests per second (open loop). Zero in
	// closed-loop modes.
	Rate float64
	// RateEnd, when positive, ramps the rate linearly from Rate at the
	// step's start to RateEnd at its end.
	RateEnd float64
	// Concurrency bounds requests in flight. In closed-loop modes it is the
	// load itself; in open-loop modes zero means the caller's default bound.
	Concurrency int
	// Hold is how long to hold the load, warm-up included.
	Hold time.Duration
	// Extend continues the previous step for Hold more instead of starting
	// a new one; Run sets it when a step had too few samples to judge.
	Extend bool
	// Look, when positive, asks the caller to return after Look with what
	// the step saw so far (the warm-up still follows from Hold): Run looks
	// at a sequential step every third of its hold, and continues it
	// (Extend) only while its evidence is inconclusive.
	Look time.Duration
	// Planned steps are held exactly as long as planned and never
	// repeated.
	Planned bool
	// Sequential steps (auto's) are held longer while their evidence is
	// inconclusive, and one far inside every limit ends as soon as it
	// says "higher". Other steps keep their length and are judged at its
	// end by the same rule.
	Sequential bool
	// Phase names what the controller is doing, for progress output and
	// the steps table: "grow", "bisect", "confirm", "hold", "backoff", "track",
	// "fixed".
	Phase string
	// AskedBy says who asked for a load set while the run went on
	// ("page" or "command"); empty when the controller chose it.
	AskedBy string
}

// PhaseGrow names a step that raises the load toward the first failure;
// PhaseConfirm auto's confirmation of its answer.
const (
	PhaseGrow    = "grow"
	PhaseConfirm = "confirm"
	// PhaseTrack names a step that holds a limit once it is known.
	PhaseTrack = "track"
)

// Load returns the offered load the decision stands for: the rate in
// open-loop modes, the concurrency in closed-loop modes.
func (d Decision) Load() float64 {
	if d.RateEnd > 0 {
		return (d.Rate + d.RateEnd) / 2
	}
	if d.Rate > 0 {
		return d.Rate
	}
	return float64(d.Concurrency)
}

// Verdict is the judgement of one step against the limits.
type Verdict int

const (
	// Pass: every limit held for the judged part of the step.
	Pass Verdict = iota
	// Fail: a limit broke, and the target (not the generator) is to blame.
	Fail
	// Invalid: the generator fell behind its schedule, so the step says
	// nothing about the target.
	Invalid
	// Short: too few samples to judge the quantile; hold longer.
	Short
)

func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Invalid:
		return "invalid"
	case Short:
		return "short"
	}
	return "unknown"
}

// Limit names what broke (or bounded) a step; the values are the
// summary.json "limited_by" vocabulary.
type Limit string

const (
	LimitNone       Limit = ""
	LimitMaxRT      Limit = "max_rt"
	LimitFault      Limit = "fault"
	LimitMaxQPS     Limit = "max_qps"
	LimitTTFT       Limit = "ttft"
	LimitTPOT       Limit = "tpot"
	LimitSaturation Limit = "saturation"
	LimitGenerator  Limit = "generator"
	// LimitSamples marks a step that ended with too few samples to judge.
	LimitSamples Limit = "samples"
	// LimitBacklog marks a step that did not pass while still answering an
	// earlier step's backlog: it says nothing of its own load.
	LimitBacklog Limit = "backlog"
)

// FaultAction is what happens after a limit breaks.
type FaultAction string

const (
	// Stop holds the last passing load for the rest of the run.
	Stop FaultAction = "stop"
	// Revise backs off until every limit holds again, then keeps tracking.
	Revise FaultAction = "revise"
)
