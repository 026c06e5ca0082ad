package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/probe/rundir"
)

// progress prints one line per step to stderr, so a long search shows
// where it is; stdout keeps the answer alone. Between steps, a terminal
// gets a status line refreshed every second; other output (a pipe, a
// file, CI=true) a plain line at most every 5 s.
type progress struct {
	w      io.Writer
	quiet  bool
	spec   runner.Spec
	header bool
	// live is set on a terminal: the status line is redrawn in place.
	live bool
	// status is the status line shown (live), or when the last plain
	// one was printed.
	status    bool
	lastPlain float64
	began     time.Time
}

// newProgress returns the progress of a run of spec on w.
func newProgress(w io.Writer, quiet bool, spec runner.Spec) *progress {
	return &progress{w: w, quiet: quiet, spec: spec, live: isTerminal(w) && os.Getenv("CI") != "true", began: time.Now()}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) printf(format string, a ...any) {
	if !p.quiet {
		p.clear()
		fmt.Fprintf(p.w, format, a...)
	}
}

// clear removes the status line, before a line of its own is printed.
func (p *progress) clear() {
	if p.status && p.live {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.status = false
}

// plainEvery is the least time between two status lines off a terminal.
const plainEvery = 5.0

// tick shows where the run is, from the second that just ended: step,
// phase, offered and achieved rate, p50 and p99 (TTFT for LLM runs),
// errors, time run and the most left.
func (p *progress) tick(s rundir.Second) {
	if p.quiet || s.Step == 0 {
		return
	}
	line := p.statusLine(s, time.Since(p.began))
	if p.live {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.status = true
		return
	}
	if s.T-p.lastPlain >= plainEvery {
		fmt.Fprintf(p.w, "  … %s\n", line)
		p.lastPlain = s.T
	}
}

// statusLine is the status of second s, elapsed into the run.
func (p *progress) statusLine(s rundir.Second, elapsed time.Duration) string {
	lat, name := s.P99Ms, "p99"
	p50 := s.P50Ms
	if p.streams() {
		lat, name, p50 = s.TTFTP99Ms, "ttft p99", s.TTFTP50Ms
	}
	ms := func(v float64) string { return fmtDur(time.Duration(v * float64(time.Millisecond))) }
	errs := 0.0
	if s.Done > 0 {
		errs = 100 * float64(s.Failed) / float64(s.Done)
	}
	offered := fmt.Sprintf("%.4g/s", s.OfferedQPS)
	if s.OfferedQPS == 0 {
		offered = "closed loop"
	}
	left := ""
	if d := p.spec.Duration; d > 0 && d > elapsed {
		left = fmt.Sprintf(", at most %s left", (d - elapsed).Round(time.Second))
	}
	return fmt.Sprintf("step %d %s: offered %s, achieved %d/s, %s %s, p50 %s, errors %.2f%%, %s run%s",
		s.Step, s.Phase, offered, s.Done, name, ms(lat), ms(p50), errs, elapsed.Round(time.Second), left)
}

func (p *progress) start(ev runner.Started) {
	if ev.Dataset != "" {
		p.printf("capfinder: dataset %s\n", ev.Dataset)
	}
	p.printf("capfinder: %s against %s, recording to %s\n", p.spec.Mode, rundir.RedactURL(p.spec.URL), ev.Dir)
	p.printf("capfinder: limits: %s\n", describeLimits(p.spec))
	if p.spec.Insecure {
		// Said even with --quiet: it qualifies the answer.
		fmt.Fprintf(p.w, "capfinder: warning: %s\n", analysis.InsecureWarning)
	}
}

// calibrated says how the prompts were sized.
func (p *progress) calibrated(cal rundir.Calibration) {
	if cal.Samples > 0 {
		p.printf("capfinder: prompts sized in the server's tokens: %s\n", analysis.DescribeCalibration(cal))
	}
}

// step prints the line of a judged step; w is what the engine measured
// over it.
func (p *progress) step(st controller.Step, w *rundir.StepStats) {
	if !p.header {
		first := "p50"
		if p.streams() {
			first = "ttft p99"
		}
		p.printf("%5s %-8s %10s %10s %9s %9s %8s  %s\n", "step", "phase", "offered", "achieved", first, "p99", "errors", "verdict")
		p.header = true
	}
	v := st.Verdict.String()
	if st.Limit != controller.LimitNone {
		v += " (" + string(st.Limit) + ")"
	}
	switch {
	case st.Higher:
		v += ", far inside"
	case !st.Conclusive && st.Verdict != controller.Invalid:
		v += ", not conclusive"
	}
	if st.Cut {
		v += ", cut short"
	}
	d := st.Decision
	offered := fmt.Sprintf("%.1f/s", d.Rate)
	switch {
	case d.RateEnd > 0:
		offered = fmt.Sprintf("%.4g→%.4g/s", d.Rate, d.RateEnd)
	case d.Rate == 0:
		offered = fmt.Sprintf("c=%d", d.Concurrency)
	}
	first := rundir.Quantile(w.Latency, 0.5)
	if p.streams() {
		first = rundir.Quantile(w.TTFT, 0.99)
	}
	p.printf("%5d %-8s %10s %8.1f/s %9s %9s %7.2f%%  %s\n", st.Index, d.Phase, offered, w.Achieved(),
		fmtDur(first), fmtDur(rundir.Quantile(w.Latency, 0.99)),
		100*w.ErrorRate(), v)
}

// streams reports whether the run's requests stream tokens or events,
// whose first arrival the table shows.
func (p *progress) streams() bool { return p.spec.Streams() }

func (p *progress) pause(d time.Duration) {
	if d >= 100*time.Millisecond {
		p.printf("%5s %-8s waited %s for the last step's requests to drain\n", "", "drain", fmtDur(d))
	}
}

func (p *progress) interrupted() {
	p.printf("capfinder: interrupted; in-flight requests were cancelled and recorded, the summary covers the run so far\n")
}

// fmtDur prints a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3gs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	}
}

func describeLimits(s runner.Spec) string {
	out := fmt.Sprintf("errors ≤ %.3g%%", 100*s.FaultTolerate)
	if s.MaxTPOT > 0 {
		out = fmt.Sprintf("TPOT p%g ≤ %s, %s", 100*s.RTQuantile, s.MaxTPOT, out)
	}
	if s.MaxTTFT > 0 {
		out = fmt.Sprintf("TTFT p%g ≤ %s, %s", 100*s.RTQuantile, s.MaxTTFT, out)
	}
	if s.MaxRT > 0 {
		out = fmt.Sprintf("p%g ≤ %s, %s", 100*s.RTQuantile, s.MaxRT, out)
	}
	if s.Mode.Search() {
		out += fmt.Sprintf(", rate ≤ %g/s", s.MaxQPS)
	}
	return out
}

// printAnswer prints the answer on stdout: capacity first, then sizing,
// then where the evidence is.
func printAnswer(w io.Writer, sum rundir.Summary, dir string) {
	c := sum.Capacity
	// A multi-turn run offers conversations: its rates count those
	// started, and a line gives the requests they made.
	unit := "req/s"
	if sum.Conversations != nil {
		unit = "conversations/s"
	}
	search := rundir.Mode(sum.Mode).Search()
	switch {
	case !search && c.QPS > 0:
		what := "a fixed load"
		if sum.Mode == "profile" {
			what = "the highest step of the profile that held"
		}
		fmt.Fprintf(w, "sustained: %s %s with every limit holding (%s; --mode auto finds the capacity)\n", fmtRate(c.QPS), unit, what)
	case !search:
		fmt.Fprintf(w, "sustained: no load held every limit in every step run at it or below (%s)\n", orUnknown2(c.LimitedBy))
	case c.QPS > 0 && c.High <= 0 && c.LimitedBy == "generator":
		fmt.Fprintf(w, "capacity: at least %s %s, a lower bound set by the generator, which could not offer more; the target's limit was not reached\n", fmtRate(c.QPS), unit)
	case c.QPS > 0:
		fmt.Fprintf(w, "capacity: %s %s (true limit between %s and %s), limited by %s\n",
			fmtRate(c.QPS), unit, fmtRate(c.Low), orUnknown(c.High), orUnknown2(c.LimitedBy))
	default:
		fmt.Fprintf(w, "capacity: not found — %s\n", sum.Status)
	}
	if t := sum.Tokens; t != nil && t.OutputPerS > 0 {
		fmt.Fprintf(w, "tokens: %.4g output tokens/s at that load (%.4g prompt tokens/s; %.0f in and %.0f out per request)\n",
			t.OutputPerS, t.PromptPerS, t.MeanPrompt, t.MeanOutput)
	}
	if cv := sum.Conversations; cv != nil && cv.CapacityRequestsQPS > 0 {
		fmt.Fprintf(w, "conversations: %s\n", analysis.DescribeConversations(c.QPS, cv))
	}
	if p := sum.Prompts; p != nil && p.Requests > 0 {
		fmt.Fprintf(w, "prompts: %s\n", analysis.DescribePrompts(p))
	}
	if sv := sum.Server; sv != nil && sv.Explanation != "" {
		fmt.Fprintf(w, "server: %s\n", sv.Explanation)
	}
	if r := sum.Recommendation; r.Replicas > 0 {
		fmt.Fprintf(w, "replicas: %d for %.4g %s with %.0f%% headroom (%s)\n", r.Replicas, r.TargetQPS, unit, 100*r.Headroom, r.Arithmetic)
	} else if r.PerReplicaQPS > 0 {
		fmt.Fprintf(w, "safe load per replica: %.4g %s with %.0f%% headroom (give --target-qps to size replicas)\n", r.PerReplicaQPS, unit, 100*r.Headroom)
	}
	if c := sum.Cost; c != nil {
		fmt.Fprintf(w, "cost: %s\n", analysis.DescribeCost(c, unit))
	}
	for _, warn := range sum.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	q := sum.Requests
	fmt.Fprintf(w, "requests: %d sent, %d recorded, %d failed", q.Sent, q.Recorded, q.Failed)
	if q.Canceled > 0 {
		fmt.Fprintf(w, ", %d cancelled in flight at the end", q.Canceled)
	}
	if q.Gaps > 0 {
		fmt.Fprintf(w, ", %d scheduled arrivals dropped or missing (gaps in seq)", q.Gaps)
	}
	fmt.Fprintln(w)
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		// Interrupted: only the summary was written.
		fmt.Fprintf(w, "run: %s (summary.json, requests/*.parquet; capfinder analyze %s writes the report)\n", dir, dir)
		return
	}
	fmt.Fprintf(w, "run: %s (report.html, summary.json, requests/*.parquet)\n", dir)
}

func orUnknown(v float64) string {
	if v <= 0 {
		return "not reached"
	}
	return fmtRate(v)
}

// fmtRate prints a rate with four significant digits, never in exponent
// form.
func fmtRate(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

func orUnknown2(s string) string {
	if s == "" {
		return "nothing (no limit broke)"
	}
	return s
}

// answerLine is the answer's first line: the capacity, or what held.
func answerLine(sum rundir.Summary) string {
	var b strings.Builder
	printAnswer(&b, sum, "")
	line, _, _ := strings.Cut(b.String(), "\n")
	return line
}
