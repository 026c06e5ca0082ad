package analysis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
)

// Options are the service levels and sizing a run is analysed with.
type Options struct {
	// Limits judge every step again: MaxRT at Quantile, FaultTolerate,
	// MaxQPS.
	Limits      controller.Limits
	FaultAction string
	// Search is set for runs that searched for the capacity (auto, scan);
	// fixed loads report the throughput sustained instead.
	Search bool
	// Sequential is set for auto runs, whose steps were held until their
	// evidence decided and may pass far inside the limits as "higher".
	Sequential bool
	// Status is how the run ended. GeneratorBound (the generator could
	// not offer the load) names the generator as the limit when nothing
	// failed above the capacity. Stopped (interrupted) in a search means
	// its last step was cut short: as in the live search, its pass does
	// not count (an interrupted confirmation confirms nothing). A fixed
	// load's step is the run itself, so what it held until the interrupt
	// stands.
	Status controller.Status
	// TargetQPS and Headroom size replicas; ReplicaCost, per replica-hour,
	// prices the safe load.
	TargetQPS, Headroom, ReplicaCost float64
	// ServerURL is the endpoint the server's metrics were scraped from.
	ServerURL string
	// SaturationErrors is the failing fraction at which a step counts as
	// saturated (0.05).
	SaturationErrors float64
	// Bootstrap resamples for the capacity interval (200), drawn from
	// Seed; Level is its coverage (0.9).
	Bootstrap int
	Seed      uint64
	Level     float64
}

// Analysis is a run explained: the judged steps, the fitted curve and the
// summary.
type Analysis struct {
	Run     *Run
	Steps   []controller.Step
	Result  controller.Result
	Fit     *LatencyFit // nil when the steps do not allow one
	Summary rundir.Summary
}

// Window reduces a step's statistics to what the controller judges
// against lim: the one reduction the live run and analysis share.
func Window(s *rundir.StepStats, lim controller.Limits) controller.Window {
	q := lim.RTQuantile()
	_, _, rising := s.Rising()
	w := controller.Window{
		Offered: s.Load(),
		// Conversations are offered by the schedule and their later
		// turns follow: the requests completed count against the offer
		// in conversations.
		Achieved:      s.Achieved() / s.PerOffer(),
		Duration:      s.Judged(),
		Samples:       int(s.Samples),
		Failures:      int(s.Failed),
		Pending:       int(s.Pending),
		LocalFailures: int(s.Errors[rundir.ErrLocal]),
		Latency:       rundir.Quantile(s.Latency, q),
		TTFT:          rundir.Quantile(s.TTFT, q),
		TPOT:          rundir.Quantile(s.TPOT, q),
		Behind:        s.Behind(),
		Lagging:       s.Lagging(lim.MaxSendLag()),
		SendLag:       rundir.Quantile(s.SendLag, 0.99),
		Saturated:     s.Saturated,
		Rising:        rising,
		Warmup:        s.JudgedStart - s.Start,
		RateEnd:       s.RateEnd,
		InFlightStart: int(s.InFlightStart), InFlightEnd: int(s.InFlightEnd),
	}
	if lim.MaxRT > 0 {
		w.OverRT = int(rundir.CountAbove(s.Latency, lim.MaxRT))
	}
	// An open-loop step that completed more than it was offered, by more
	// than KeepUp forgives and three standard deviations of a Poisson
	// count, was answering an earlier step's backlog.
	if offered := s.Offered * s.Duration().Seconds() * s.PerOffer(); offered > 0 {
		w.Carried = float64(s.Completed) > offered/controller.KeepUp+3*math.Sqrt(offered)
	}
	if lim.MaxTTFT > 0 {
		w.OverTTFT = int(rundir.CountAbove(s.TTFT, lim.MaxTTFT))
	}
	if lim.MaxTPOT > 0 {
		w.OverTPOT = int(rundir.CountAbove(s.TPOT, lim.MaxTPOT))
	}
	return w
}

// Analyze judges every step of r with opt's limits and explains the run:
// capacity, the fitted latency curve with an interval for where it meets
// MaxRT, knee, saturation, recommendation and warnings.
func Analyze(r *Run, opt Options) *Analysis {
	if opt.SaturationErrors <= 0 {
		opt.SaturationErrors = 0.05
	}
	if opt.Bootstrap <= 0 {
		opt.Bootstrap = 200
	}
	if !(opt.Level > 0 && opt.Level < 1) {
		opt.Level = 0.9
	}
	lim := opt.Limits
	a := &Analysis{Run: r}
	for i, s := range r.Steps {
		w := Window(s, lim)
		d := controller.Decision{Rate: s.Offered, Concurrency: s.Concurrency, Phase: s.Phase, Sequential: opt.Sequential}
		v, l, conclusive, higher := lim.Conclude(w, d)
		a.Steps = append(a.Steps, controller.Step{
			Index: i + 1, Decision: d, Window: w, Verdict: v, Limit: l, Conclusive: conclusive, Higher: higher,
		})
	}
	if n := len(a.Steps); n > 0 && opt.Search && opt.Status == controller.Stopped {
		a.Steps[n-1].Cut = true
	}
	res := controller.Result{Steps: a.Steps, Status: opt.Status}
	a.Result = res.Settle(lim)

	sum := rundir.Summary{
		Mode: r.Meta["run.mode"],
		Limits: rundir.Limits{
			MaxRTMs: ms(lim.MaxRT), RTQuantile: lim.Quantile, FaultTolerate: lim.FaultTolerate, Confidence: lim.ConfidenceLevel(),
			FaultAction: opt.FaultAction, MaxTTFTMs: ms(lim.MaxTTFT), MaxTPOTMs: ms(lim.MaxTPOT), MaxQPS: lim.MaxQPS,
		},
		Steps:    []rundir.SummaryStep{},
		Warnings: []string{},
	}
	for i, s := range r.Steps {
		st := a.Steps[i]
		sum.Steps = append(sum.Steps, s.Summary(st.Verdict.String(), string(st.Limit), st.Conclusive))
	}
	sum.Requests = rundir.Requests{Sent: r.Records, Recorded: r.Records, OK: r.OK, Failed: r.Failed, Canceled: r.Canceled,
		Duplicates: r.Duplicates, Gaps: r.Gaps}
	sum.Capacity = rundir.Capacity{QPS: a.Result.Capacity, Low: a.Result.Capacity, High: a.Result.High, LimitedBy: string(a.Result.LimitedBy)}
	if !opt.Search {
		sum.Capacity.High = 0
		if sustained := a.sustained(); sustained > 0 {
			sum.Capacity.QPS, sum.Capacity.Low = sustained, sustained
		}
	}
	sum.Tokens = a.tokens(sum.Capacity.QPS)
	sum.Prompts = a.prompts()
	sum.Conversations = a.conversations(sum.Capacity.QPS)
	a.fit(&sum, opt)
	sum.Saturation = a.saturation(opt.SaturationErrors)
	sum.Recommendation = Recommend(sum.Capacity, opt.TargetQPS, opt.Headroom)
	sum.Cost = cost(opt.ReplicaCost, &sum)
	sum.Frontier = a.frontier(opt)
	if r.ServerScrapes > 0 {
		sum.Server = &rundir.Server{URL: opt.ServerURL, Series: r.ServerSeries, Scrapes: r.ServerScrapes}
		sum.Server.Explanation, sum.Server.Rule = a.explainServer(&sum)
	}
	sum.Warnings = append(sum.Warnings, a.warnings(lim, opt.ServerURL, sum.Prompts)...)
	a.Summary = sum
	return a
}

// tokens is the capacity in tokens per second, nil for a run without
// tokens.
func (a *Analysis) tokens(capacity float64) *rundir.Tokens {
	var t rundir.Tokens
	var prompt, output, done int64
	for i, s := range a.Run.Steps {
		prompt += s.PromptTokens
		output += s.OutputTokens
		done += s.Completed
		if a.Steps[i].Verdict == controller.Pass && s.Rate() == capacity && s.OutputRate() > t.OutputPerS {
			t.OutputPerS = s.OutputRate()
			if d := s.Duration().Seconds(); d > 0 {
				t.PromptPerS = float64(s.PromptTokens) / d
			}
		}
	}
	if output == 0 {
		return nil
	}
	t.MeanPrompt, t.MeanOutput = float64(prompt)/float64(done), float64(output)/float64(done)
	t.CountedFromChunk, t.UsageMismatch = a.Run.Counted, a.Run.Mismatched
	return &t
}

// PromptErrorWarn is the relative error of the mean prompt length, the
// server's count against the length asked, beyond which the answer warns
// that the run sent another workload than asked.
const PromptErrorWarn = 0.02

// prompts compares the prompt lengths asked with the server's counts;
// nil for a run of prompts not sized or not counted.
func (a *Analysis) prompts() *rundir.Prompts {
	c := a.Run.Prompts
	if c.Checked == 0 && c.Cached == 0 {
		return nil
	}
	p := &rundir.Prompts{Requests: c.Checked}
	if c.Checked > 0 {
		p.AskedMean, p.ReportedMean = float64(c.Asked)/float64(c.Checked), float64(c.Reported)/float64(c.Checked)
		p.Error = float64(c.Reported-c.Asked) / float64(c.Asked)
	}
	if c.Total > 0 {
		p.CachedShare = float64(c.Cached) / float64(c.Total)
	}
	return p
}

// conversations states a multi-turn run's capacity in requests; nil for
// a run of single requests.
func (a *Analysis) conversations(capacity float64) *rundir.Conversations {
	r := a.Run
	if r.Started == 0 {
		return nil
	}
	c := &rundir.Conversations{Started: r.Started, TurnsMean: float64(r.Turns) / float64(r.Started)}
	for i, s := range r.Steps {
		if a.Steps[i].Verdict == controller.Pass && s.Rate() == capacity {
			c.CapacityRequestsQPS = max(c.CapacityRequestsQPS, s.Achieved())
		}
	}
	return c
}

// sustained is, for closed-loop steps, the lowest throughput a passing
// step delivered: what the load sustained within every limit. Open-loop
// steps keep their offered rate.
func (a *Analysis) sustained() float64 {
	best := 0.0
	for i, st := range a.Steps {
		s := a.Run.Steps[i]
		if st.Verdict != controller.Pass || s.Offered > 0 {
			continue
		}
		if x := s.Rate(); best == 0 || x < best {
			best = x
		}
	}
	return best
}

// steady reports whether open-loop step i kept up with its offer, by the
// controller's rule: only those lie on the stationary latency curve.
func (a *Analysis) steady(i int) bool { return controller.KeptUp(a.Steps, i) }

// fit fits the latency curve over the open-loop steps that kept up, finds
// its knee, and narrows the capacity's bracket by the interval of where the
// curve meets MaxRT.
func (a *Analysis) fit(sum *rundir.Summary, opt Options) {
	lim := opt.Limits
	var qps, lat []float64
	lo, hi := math.Inf(1), 0.0
	for i, s := range a.Run.Steps {
		if !a.steady(i) || s.Samples == 0 {
			continue
		}
		qps = append(qps, s.Offered)
		lat = append(lat, rundir.Quantile(s.Latency, lim.Quantile).Seconds())
		lo, hi = math.Min(lo, s.Offered), math.Max(hi, s.Offered)
	}
	usl := a.fitUSL()
	f, err := FitLatency(qps, lat)
	if err != nil {
		if usl != nil {
			sum.Fit = &rundir.FitSummary{Chosen: "usl", USL: usl}
		}
		return
	}
	a.Fit = &f
	sum.Fit = &rundir.FitSummary{
		Chosen: "latency", USL: usl,
		Model: "R(λ) = S + A/(μ − λ) on the p" + trimFloat(100*lim.Quantile) + " latency", Method: "least squares in log latency, Nelder–Mead",
		SMs: f.S * 1e3, A: f.A, MuQPS: f.Mu, RMSLE: f.RMSLE, Points: f.N,
	}
	if usl != nil && usl.RMSLE < f.RMSLE {
		sum.Fit.Chosen = "usl"
	}
	sum.Knee.QPS = Knee(f, lo, hi, 1001)
	sum.Knee.Method = "Kneedle on the fitted curve over the steady steps' loads"
	if lim.MaxRT <= 0 {
		return
	}
	sum.Fit.CapacityQPS = f.RateAt(lim.MaxRT.Seconds())
	rng := rand.New(rand.NewPCG(opt.Seed, 0x616e616c79736973)) // "analysis"
	ci, ok := BootstrapRate(qps, lat, lim.MaxRT.Seconds(), opt.Level, opt.Bootstrap, rng)
	if !ok {
		return
	}
	sum.Fit.CapacityCI = []float64{ci.Low, ci.High}
	sum.Fit.Level = ci.Level
	// The measured bracket holds; the interval narrows its top when the
	// limit that bounds it is the latency one.
	c := &sum.Capacity
	if opt.Search && c.LimitedBy == string(controller.LimitMaxRT) && c.High > 0 && ci.High > c.QPS && ci.High < c.High {
		c.High = ci.High
	}
}

// fitUSL fits the USL to every judged step's achieved throughput against
// its mean concurrency; nil when the steps do not allow it.
func (a *Analysis) fitUSL() *rundir.USLSummary {
	var conc, qps []float64
	for _, s := range a.Run.Steps {
		if s.Samples > 0 && s.InFlight() > 0 && s.Achieved() > 0 {
			conc, qps = append(conc, s.InFlight()), append(qps, s.Achieved())
		}
	}
	f, err := FitUSL(conc, qps)
	if err != nil {
		return nil
	}
	u := &rundir.USLSummary{Lambda: f.Lambda, Sigma: f.Sigma, Kappa: f.Kappa, RMSLE: f.RMSLE, Points: f.N}
	if n, x := f.Peak(); !math.IsInf(n, 1) {
		u.PeakConcurrency, u.PeakQPS = n, x
	}
	return u
}

// saturation finds where the target stopped keeping up: the lowest
// offered load of a step that did not keep up by the controller's rule
// (steady; the generator not to blame) or failed frac of requests, and the throughput
// it sustained there and above, its plateau: the successful answers per
// second of those steps, pooled, with a 95 % interval from their Poisson
// count. Zero when no step saturated.
func (a *Analysis) saturation(frac float64) rundir.Saturation {
	var sat rundir.Saturation
	var good, secs float64
	for i, s := range a.Run.Steps {
		if s.Offered <= 0 || s.Samples == 0 {
			continue
		}
		if (!a.steady(i) && a.Steps[i].Verdict != controller.Invalid && !a.generatorBound(s)) || s.ErrorRate() >= frac {
			if sat.OnsetQPS == 0 || s.Offered < sat.OnsetQPS {
				sat.OnsetQPS = s.Offered
			}
			good += float64(s.Completed) * (1 - s.ErrorRate())
			secs += s.Duration().Seconds()
		}
	}
	if secs <= 0 || good <= 0 {
		return rundir.Saturation{}
	}
	half := 1.96 * math.Sqrt(good)
	sat.QPS, sat.Low, sat.High = good/secs, math.Max(0, good-half)/secs, (good+half)/secs
	return sat
}

// restsOn reports whether the answer rests on st: it is the pass at the
// capacity or the failure that bounds it from above.
func (a *Analysis) restsOn(st controller.Step) bool {
	load := st.Decision.Load()
	switch st.Verdict {
	case controller.Pass:
		return !st.Higher && load == a.Result.Capacity
	case controller.Fail:
		return a.Result.High > 0 && load > a.Result.Capacity && load <= a.Result.High*(1+1e-9)
	}
	return false
}

// generatorBound reports whether a step's shortfall was the generator's:
// it fell behind its schedule and the target had slots to spare.
func (a *Analysis) generatorBound(s *rundir.StepStats) bool {
	return s.Behind() && !s.Saturated
}

// warnings lists what the answer should not be trusted for.
func (a *Analysis) warnings(lim controller.Limits, serverURL string, p *rundir.Prompts) []string {
	out := append([]string(nil), a.Run.Skipped...)
	if r := a.Run; r.Duplicates > 0 {
		out = append(out, duplicatesWarning(r.Duplicates, r.DuplicateSeq))
	}
	if serverURL != "" && a.Run.ServerScrapes == 0 {
		out = append(out, fmt.Sprintf("no server metrics were recorded from %s: it never answered with Prometheus text, so the answer does not say what the server ran out of", serverURL))
	}
	if p != nil && p.Requests > 0 && math.Abs(p.Error) > PromptErrorWarn {
		out = append(out, fmt.Sprintf("prompts were %+.1f %% off the length asked (mean %.0f tokens by the server's count, %.0f asked, over %d requests): the capacity is that of another workload; calibrate against the server (--calibrate) or give its --tokenizer",
			100*p.Error, p.ReportedMean, p.AskedMean, p.Requests))
	}
	var tailed []string
	for i, s := range a.Run.Steps {
		st := a.Steps[i]
		n := fmt.Sprintf("step %d (%s)", s.Step, loadString(s))
		switch {
		case st.Cut:
			out = append(out, fmt.Sprintf("%s was cut short when the run was interrupted; it does not count toward the answer", n))
		case !st.Conclusive && a.restsOn(st):
			out = append(out, fmt.Sprintf("the answer rests on %s, whose %d samples did not decide its %s at %.0f %% confidence: it was judged on what it measured (hold steps longer)",
				n, s.Samples, st.Verdict, 100*lim.ConfidenceLevel()))
		}
		switch {
		case st.Verdict == controller.Invalid && s.Errors[rundir.ErrLocal] > 0:
			out = append(out, fmt.Sprintf("%s is invalid: the generator ran out of file descriptors or local ports (%d requests failed for it); raise ulimit -n or lower --concurrency", n, s.Errors[rundir.ErrLocal]))
		case st.Verdict == controller.Invalid:
			out = append(out, fmt.Sprintf("%s is invalid: the generator fell behind its schedule (send lag p99 %s); the limit found may be the generator's, not the target's", n, rundir.Quantile(s.SendLag, 0.99)))
		}
		p50, p99 := rundir.Quantile(s.Latency, 0.5), rundir.Quantile(s.Latency, 0.99)
		if s.Failed == 0 && p50 > 0 && p99 > 4*p50 && st.Verdict == controller.Pass {
			tailed = append(tailed, fmt.Sprintf("%d (%.1f)", s.Step, float64(p99)/float64(p50)))
		}
		if early, late, rising := s.Rising(); rising {
			out = append(out, fmt.Sprintf("%s is not steady: its median latency rose from %s to %s within the step", n, early, late))
		}
	}
	if len(tailed) > 0 {
		// One line for all: a long-tailed service time gives every step
		// the same ratio.
		out = append(out, "p99/p50 above 4 without errors in passing steps "+strings.Join(tailed, ", ")+
			": requests are queueing, or the service time itself is long-tailed")
	}
	if r := a.Run; r.Counted > 0 {
		out = append(out, fmt.Sprintf("%d streamed requests had no usage report; their output tokens were counted from content chunks (the server may need stream_options.include_usage)", r.Counted))
	}
	if r := a.Run; r.Mismatched > 0 {
		out = append(out, fmt.Sprintf("%d requests reported more or fewer output tokens than the content chunks they streamed; TPOT uses the reported count", r.Mismatched))
	}
	if a.Run.OK == 0 && a.Run.Records > 0 {
		out = append(out, a.noSuccessWarning())
	}
	return out
}

// duplicatesWarning says that n of a run's requests were recorded twice,
// the lowest seq among them first.
func duplicatesWarning(n, seq int64) string {
	what := fmt.Sprintf("1 request was recorded twice (seq %d)", seq)
	if n > 1 {
		what = fmt.Sprintf("%d requests were recorded twice (seq %d…)", n, seq)
	}
	return what + ": parts of one agent were gathered twice, or two agents had the same index"
}

// noSuccessWarning says that no request succeeded, and the commonest
// failure: a wrong URL, method or credential rather than a capacity.
func (a *Analysis) noSuccessWarning() string {
	counts := map[string]int64{}
	for _, s := range a.Run.Steps {
		for k, v := range s.Errors {
			counts[k] += v
		}
	}
	top, n := "", int64(0)
	for k, v := range counts {
		if v > n || (v == n && k < top) {
			top, n = k, v
		}
	}
	msg := "no request succeeded; check the URL, method and headers"
	if top != "" {
		msg += " (most failures: " + top + ")"
	}
	return msg
}

func loadString(s *rundir.StepStats) string {
	if s.Offered > 0 {
		return trimFloat(s.Offered) + "/s"
	}
	return fmt.Sprintf("c=%d", s.Concurrency)
}

func trimFloat(v float64) string { return fmt.Sprintf("%.4g", v) }

// ms converts a duration to float milliseconds, the unit of summary.json.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Recommend sizes replicas for target requests per second from the low
// end of the capacity, keeping headroom spare:
// replicas = ceil(target / (low × (1 − headroom))).
func Recommend(c rundir.Capacity, target, headroom float64) rundir.Recommendation {
	r := rundir.Recommendation{Headroom: headroom, TargetQPS: target}
	base := c.Low
	if base <= 0 {
		base = c.QPS
	}
	r.PerReplicaQPS = base * (1 - headroom)
	if target > 0 && r.PerReplicaQPS > 0 {
		r.Replicas = int(math.Ceil(target / r.PerReplicaQPS))
		r.Arithmetic = fmt.Sprintf("ceil(%.4g / (%.4g × (1 − %.2g))) = ceil(%.4g / %.4g) = %d",
			target, base, headroom, target, r.PerReplicaQPS, r.Replicas)
	}
	return r
}
