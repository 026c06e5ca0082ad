package controller

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// batching is an LLM replica with continuous batching, simulated in
// virtual time with Poisson arrivals, as `capfinder sim llm` serves: one
// scheduler runs decode steps back to back; each step admits waiting
// requests first come, first served while fewer than maxRun run, lasts
// decode + perSeq for each running sequence + prefill for each prompt
// token admitted, and gives every running sequence a token. A request's
// time to first token is its wait for a slot plus the step that admits
// it, so TTFT is flat while slots are free and climbs as a cliff once
// they are not: rare queue excursions, when every slot is taken for a
// while, decide a long run's p99. Its state (queue, batch, clock) carries
// from step to step; after a failed step it drains, as the runner waits
// for a failed step's backlog.
type batching struct {
	maxRun, input, output   int
	decode, perSeq, prefill float64 // seconds
	q                       float64
	maxTTFT                 time.Duration
	rng                     *rand.Rand

	t, nextArr float64
	rate       float64
	waiting    []*batchReq
	running    []*batchReq
	// reqs are the requests of the current step, by arrival; stepStart
	// and judgedStart its start and the start of its judged part.
	reqs                   []*batchReq
	stepStart, judgedStart float64
	inFlightAtJudged       int
	// completed counts answers since the step started, of any step.
	completed int
	failed    bool
}

type batchReq struct {
	arrival, first, end float64 // first and end zero until they happen
	left                int
}

// newBatching returns the default simulated replica (64 sequences, 10 ms
// decode plus 250 µs a sequence, 20 µs a prompt token) serving 256-token
// prompts and 128-token answers: a ceiling of 17.5 req/s, and a TTFT p99
// of 1 s, over long runs, near 16 req/s.
func newBatching(seed uint64, maxTTFT time.Duration) *batching {
	return &batching{
		maxRun: 64, input: 256, output: 128,
		decode: 0.010, perSeq: 0.00025, prefill: 0.00002,
		q: 0.99, maxTTFT: maxTTFT, rng: rand.New(rand.NewPCG(seed, 7)),
	}
}

// advance runs the replica until virtual time end, arrivals at b.rate
// (none when zero).
func (b *batching) advance(end float64) {
	for b.t < end {
		if len(b.running) == 0 && len(b.waiting) == 0 {
			if b.rate == 0 || b.nextArr >= end {
				b.t = end
				return
			}
			b.t = b.nextArr
		}
		b.arrive(b.t)
		prefill := 0
		for len(b.waiting) > 0 && len(b.running) < b.maxRun {
			r := b.waiting[0]
			b.waiting = b.waiting[1:]
			b.running = append(b.running, r)
			r.left = b.output
			prefill += b.input
			r.first = -1 // admitted: its first token comes at this step's end
		}
		b.t += b.decode + b.perSeq*float64(len(b.running)) + b.prefill*float64(prefill)
		kept := b.running[:0]
		for _, r := range b.running {
			if r.first < 0 {
				r.first = b.t
			}
			if r.left--; r.left == 0 {
				r.end = b.t
				b.completed++
				continue
			}
			kept = append(kept, r)
		}
		b.running = kept
	}
	b.arrive(end)
}

// arrive queues the arrivals up to t.
func (b *batching) arrive(t float64) {
	for b.rate > 0 && b.nextArr <= t {
		r := &batchReq{arrival: b.nextArr}
		b.waiting = append(b.waiting, r)
		b.reqs = append(b.reqs, r)
		b.nextArr += b.rng.ExpFloat64() / b.rate
	}
}

func (b *batching) inFlight() int { return len(b.waiting) + len(b.running) }

func (b *batching) step(d Decision) Window {
	hold := d.Hold.Seconds()
	if d.Look > 0 {
		hold = d.Look.Seconds()
	}
	if !d.Extend {
		var drained float64
		if b.failed {
			b.rate = 0
			start := b.t
			for b.inFlight() > 0 && b.t-start < 20 {
				b.advance(b.t + 0.1)
			}
			drained = b.t - start
		}
		b.rate = d.Rate
		b.nextArr = b.t + b.rng.ExpFloat64()/b.rate
		b.reqs = b.reqs[:0]
		b.completed = 0
		b.stepStart = b.t
		warm := math.Min(3, d.Hold.Seconds()/5) // the runner's: --warmup 3s, at most a fifth of the hold
		b.advance(b.t + warm)
		b.judgedStart = b.t
		b.inFlightAtJudged = b.inFlight()
		w := b.window(hold - warm)
		w.Drained = time.Duration(drained * float64(time.Second))
		return w
	}
	return b.window(hold)
}

// window runs the step for d more seconds and measures its judged part:
// the requests that arrived in it, but for the last min(maxTTFT, a
// quarter of the step), judged on TTFT (one still waiting counts with its
// age).
func (b *batching) window(d float64) Window {
	b.advance(b.t + d)
	now := b.t
	tail := math.Min(b.maxTTFT.Seconds(), (now-b.stepStart)/4)
	var ttft, e2e []float64
	lateHalf := now - (now-b.judgedStart)/2
	var early, late []float64
	w := Window{
		Offered:  b.rate,
		Duration: time.Duration((now - b.judgedStart) * float64(time.Second)),
		Warmup:   time.Duration((b.judgedStart - b.stepStart) * float64(time.Second)),
	}
	for _, r := range b.reqs {
		if r.arrival < b.judgedStart || r.arrival > now-tail {
			continue
		}
		w.Samples++
		f := now - r.arrival
		if r.first > 0 {
			f = r.first - r.arrival
		}
		if r.end == 0 {
			w.Pending++
		}
		if f > b.maxTTFT.Seconds() {
			w.OverTTFT++
		}
		ttft = append(ttft, f)
		e := now - r.arrival
		if r.end > 0 {
			e = r.end - r.arrival
		}
		e2e = append(e2e, e)
		if r.arrival < lateHalf {
			early = append(early, f)
		} else {
			late = append(late, f)
		}
	}
	// As the engine counts it: the answers that came during the step, to
	// any step's requests, over its whole length.
	w.Achieved = float64(b.completed) / (now - b.stepStart)
	w.TTFT = quantileOf(ttft, b.q)
	w.Latency = quantileOf(e2e, b.q)
	w.InFlightStart, w.InFlightEnd = b.inFlightAtJudged, b.inFlight()
	if len(early) > 0 && len(late) > 0 {
		w.Rising = quantileOf(late, 0.5) > 2*quantileOf(early, 0.5)
	}
	return w
}

// quantileOf is the q-quantile of xs in seconds, as a duration.
func quantileOf(xs []float64, q float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return time.Duration(s[int(math.Ceil(q*float64(len(s))))-1] * float64(time.Second))
}

// longRunTTFT is the replica's TTFT p99 over a fixed-rate run of the given
// length from an idle replica, judged after a 20 s warm-up: the truth a
// search is measured against.
func longRunTTFT(seed uint64, rate, seconds float64) time.Duration {
	b := newBatching(seed, time.Second)
	b.rate = rate
	b.nextArr = b.rng.ExpFloat64() / rate
	b.advance(seconds)
	b.rate = 0
	b.advance(seconds + 60)
	var ttft []float64
	for _, r := range b.reqs {
		if r.arrival >= 20 {
			ttft = append(ttft, r.first-r.arrival)
		}
	}
	return quantileOf(ttft, 0.99)
}

// judged tells the replica a step's verdict: after a failed one it
// drains before the next.
func (b *batching) judged(s Step) { b.failed = s.Verdict == Fail || s.Limit == LimitBacklog }

// batchingTruth1s is batchingTruth under a 1 s limit, worked out once.
var batchingTruth1s = sync.OnceValue(func() float64 { return batchingTruth(time.Second) })

// batchingTruth is the highest rate, in steps of 0.1 req/s, at which at
// most half of 40 two-minute runs break the TTFT p99 limit: the true
// capacity as long fixed-rate runs measure it.
func batchingTruth(maxTTFT time.Duration) float64 {
	truth := 0.0
	for r := 10.0; r < 17.5; r += 0.1 {
		broke := 0
		for seed := uint64(1); seed <= 40; seed++ {
			if longRunTTFT(seed, r, 140) > maxTTFT {
				broke++
			}
		}
		if broke > 20 {
			break
		}
		truth = r
	}
	return truth
}
