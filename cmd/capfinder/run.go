package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "find the capacity of a service, or hold a fixed load, recording every request",
		ArgsUsage: "URL",
		UsageText: `capfinder run [options] URL

   capfinder run --max-rt 100ms http://127.0.0.1:8080/predict          # auto: find capacity under p99 ≤ 100ms
   capfinder run --mode scan --min-qps 100 --qps-growth-delta 50 --adjust-interval 30s URL
   capfinder run --mode rate --rate 200 --duration 1m URL               # fixed open-loop rate
   capfinder run --mode concurrency --concurrency 16 --requests 5000 URL
   capfinder run -H 'Authorization: Bearer ${TOKEN}' --body @request.json URL  # header from the environment
   capfinder run --data-file reqs.zip --data-order random URL           # every file in the zip, seeded order
   capfinder run --data-file requests.txt --multi-line URL              # one request per line
   capfinder run --config bench_desc.json                               # an EAS config with service.url
   capfinder run --profile ramp.json URL                                # planned stages: rates, ramps, stairs`,
		Description: `Offers load in steps, judges each against the limits (--max-rt at --rt-quantile,
--fault-tolerate, --max-qps) and decides the next step: auto grows geometrically,
bisects between the last passing and first failing rate, and confirms; scan adds
--qps-growth-delta every --adjust-interval as EAS does. Latency is measured from
the time each request was scheduled. Every request is written to
RUN_DIR/requests/*.parquet; RUN_DIR/summary.json holds the answer.

Exit status: 0 done, 1 capacity under --fail-below, 2 bad usage or input,
3 the run could not be recorded, 130 interrupted (the partial run is written).`,
		Flags: runFlags(),
		Action: func(c *cli.Context) error {
			s, err := specFromFlags(c)
			if err != nil {
				return err
			}
			sum, dir, err := execute(c.Context, s, c.App.Writer, c.App.ErrWriter)
			if err != nil {
				return err
			}
			printAnswer(c.App.Writer, sum, dir)
			if err := interrupted(c, dir); err != nil {
				return err
			}
			if s.FailBelow > 0 && sum.Capacity.QPS < s.FailBelow {
				return cli.Exit(fmt.Sprintf("capacity %.4g req/s is under --fail-below %.4g", sum.Capacity.QPS, s.FailBelow), exitVerdict)
			}
			return nil
		},
	}
}

// execute runs the load described by s against its URL and writes the run
// directory. It returns the summary and the directory. A cancelled ctx ends
// the run early; what was recorded still gets its summary.
func execute(ctx context.Context, s spec, stdout, stderr io.Writer) (analysis.Summary, string, error) {
	var sum analysis.Summary
	client, err := newClient(s)
	if err != nil {
		return sum, "", usageError("run: %v", err)
	}
	sched, err := probe.NewSchedule(s.Arrival, s.Burstiness, s.Seed)
	if err != nil {
		return sum, "", usageError("run: %v", err)
	}
	source, err := newSource(s, stderr)
	if err != nil {
		return sum, "", usageError("run: %v", err)
	}

	dir, err := makeRunDir(s.Out)
	if err != nil {
		return sum, "", err
	}
	clock := probe.NewClock()
	meta := map[string]string{
		"capfinder.version": version,
		"capfinder.schema":  "request/1",
		"run.start":         clock.Zero().UTC().Format(time.RFC3339Nano),
		"run.url":           redactedURL(s.URL),
		"run.mode":          s.Mode,
		"run.api":           s.API,
		"run.streams":       strconv.FormatBool(s.streams()),
	}
	if err := writeRunJSON(dir, s, clock.Zero()); err != nil {
		return sum, dir, err
	}
	rec, err := probe.NewRecorder(dir, probe.RecorderOptions{Metadata: meta})
	if err != nil {
		return sum, dir, err
	}
	eng, err := probe.NewEngine(probe.EngineConfig{
		Client:      client,
		Source:      source,
		Schedule:    sched,
		Writer:      rec,
		Clock:       clock,
		MaxInFlight: s.Concurrency,
		Requests:    s.Requests,
		Streams:     s.streams(),
		// A run by request count waits for its last answers; each comes
		// or times out within the timeout.
		Drain: s.Timeout + time.Second,
	})
	if err != nil {
		rec.Close()
		return sum, dir, err
	}
	eng.Start()

	p := &progress{w: stderr, quiet: s.Quiet, spec: s}
	p.start(dir)
	lim := limitsOf(s)
	var (
		windows    []probe.Window
		lastFailed bool
	)
	res, runErr := controller.Run(ctx, newController(s), lim, s.Duration,
		func(ctx context.Context, d controller.Decision) (controller.Window, error) {
			if lastFailed && !d.Extend {
				// Let the backlog of an overloaded step drain, so the next
				// step does not inherit its latency.
				p.pause(eng.Pause(ctx, s.Timeout))
			}
			w, err := eng.Step(ctx, loadOf(s, d))
			if d.Extend && len(windows) > 0 {
				windows[len(windows)-1] = w
			} else {
				windows = append(windows, w)
			}
			switch {
			case errors.Is(err, probe.ErrExhausted):
				err = controller.ErrDone
			case err != nil && ctx.Err() != nil:
				err = ctx.Err()
			}
			return controllerWindow(s, d, w), err
		},
		func(st controller.Step) {
			lastFailed = st.Verdict == controller.Fail
			p.step(st, windows[len(windows)-1])
		})
	tot, stopErr := eng.Stop()
	closeErr := rec.Close()
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return sum, dir, runErr
	}
	if err := errors.Join(stopErr, closeErr); err != nil {
		return sum, dir, fmt.Errorf("run: recording %s: %w", dir, err)
	}
	if ctx.Err() != nil {
		p.interrupted()
	}
	if err := writeStepsParquet(dir, liveSteps(res, windows)); err != nil {
		return sum, dir, err
	}
	// The answer comes from what was recorded, by the same code as
	// `capfinder analyze`. After Ctrl-C only summary.json is written, so
	// the run ends at once; `capfinder analyze` draws the rest.
	sum, err = explain(dir, dir, s, -1, res.Status, ctx.Err() == nil)
	if tot.Sent == 0 {
		// Nothing was recorded (interrupted before the first send).
		sum = analysis.Summary{Mode: s.Mode, Status: res.Status.String(), Steps: []analysis.Step{}, Warnings: []string{"no request was sent"}}
		err = analysis.WriteJSON(filepath.Join(dir, "summary.json"), sum)
	}
	return sum, dir, err
}

// newClient returns the client of the run's API.
func newClient(s spec) (probe.Client, error) {
	cfg := probe.HTTPConfig{URL: s.URL, Method: s.Method, Header: s.Header, Timeout: s.Timeout, MaxConns: s.Concurrency}
	switch probe.API(s.API) {
	case probe.APIOpenAIChat, probe.APIOpenAICompletions:
		return probe.NewOpenAIClient(probe.OpenAIConfig{
			HTTPConfig: cfg, API: probe.API(s.API), Model: s.Model,
			MaxTokens: s.MaxTokens, IgnoreEOS: s.IgnoreEOS, NoStream: s.NoStream,
		})
	case probe.APISSE:
		return probe.NewSSEClient(cfg)
	}
	return probe.NewHTTPClient(cfg)
}

// newSource returns what the requests carry: the dataset, the payload
// files, the body, or for an LLM run without any the default synthetic
// prompts. What a dataset or the files skipped is said on stderr.
func newSource(s spec, stderr io.Writer) (datasets.Source, error) {
	var (
		src  datasets.Source
		rep  *datasets.Report
		err  error
		body []byte
	)
	switch {
	case s.DataFile != "":
		src, rep, err = datasets.Files(s.DataFile, datasets.FileOptions{MultiLine: s.MultiLine, Random: s.DataOrder == "random", Seed: s.Seed})
	case s.DataBase64 != "":
		body, err = datasets.Base64(s.DataBase64)
		err = wrap("--data-base64", err)
	case s.BodyFile != "":
		body, err = os.ReadFile(s.BodyFile)
		err = wrap("--body", err)
	case s.Body != "":
		body = []byte(s.Body)
	case s.Dataset != "" || s.isLLM():
		name := s.Dataset
		if name == "" {
			name = defaultDataset
		}
		src, rep, err = datasets.Open(name, s.Seed)
	}
	if err != nil {
		return nil, err
	}
	if rep != nil && !s.Quiet {
		fmt.Fprintf(stderr, "capfinder: dataset %s\n", rep)
	}
	if src == nil {
		src = datasets.Repeat(body)
	}
	return src, nil
}

// wrap prefixes err, when there is one, with the flag it came from.
func wrap(flag string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	return nil
}

// interrupted is the error of a command whose run was cut short by
// Ctrl-C, nil otherwise.
func interrupted(c *cli.Context, dir string) error {
	if c.Context.Err() == nil {
		return nil
	}
	return cli.Exit("interrupted; the partial run is in "+dir, exitInterrupted)
}

// loadOf turns a controller decision into an engine step.
func loadOf(s spec, d controller.Decision) probe.Load {
	l := probe.Load{
		Rate:        d.Rate,
		RateEnd:     d.RateEnd,
		Concurrency: d.Concurrency,
		Hold:        d.Hold,
		Extend:      d.Extend,
		Warmup:      min(s.Warmup, d.Hold/5),
	}
	if s.Mode == "throughput" {
		l.Rate = 0
	}
	if (l.Rate > 0 || l.RateEnd > 0) && l.Concurrency == 0 {
		l.Concurrency = s.Concurrency
	}
	// A judged request still in flight at the cut is then known to be
	// over the latency limit.
	// Requests scheduled in the tail are not judged, so a judged request
	// still in flight at the cut is at least as old as the latency limits.
	l.Tail = min(max(s.MaxRT, s.MaxTTFT), d.Hold/4)
	return l
}

// controllerWindow reduces an engine window to what the controller judges.
func controllerWindow(s spec, d controller.Decision, w probe.Window) controller.Window {
	cw := controller.Window{
		Offered:       d.Load(),
		Achieved:      w.Achieved(),
		Duration:      w.Judged(),
		Samples:       int(w.Samples),
		Failures:      int(w.Failed),
		Latency:       probe.Quantile(w.Latency, s.RTQuantile),
		TTFT:          probe.Quantile(w.TTFT, s.RTQuantile),
		TPOT:          probe.Quantile(w.TPOT, s.RTQuantile),
		Behind:        w.Behind(),
		Lagging:       w.Lagging(limitsOf(s).MaxSendLag()),
		Saturated:     w.Saturated,
		Warmup:        w.JudgedStart - w.Start,
		RateEnd:       w.RateEnd,
		InFlightStart: int(w.InFlightStart), InFlightEnd: int(w.InFlightEnd),
	}
	if s.MaxRT > 0 {
		cw.OverRT = int(probe.CountAbove(w.Latency, s.MaxRT))
	}
	if s.MaxTTFT > 0 {
		cw.OverTTFT = int(probe.CountAbove(w.TTFT, s.MaxTTFT))
	}
	if s.MaxTPOT > 0 {
		cw.OverTPOT = int(probe.CountAbove(w.TPOT, s.MaxTPOT))
	}
	return cw
}

// makeRunDir creates the run directory. A default name is made unique; an
// explicit one must not hold a previous run.
func makeRunDir(out string) (string, error) {
	if out == "" {
		base := filepath.Join("runs", time.Now().Format("20060102-150405"))
		out = base
		for i := 2; ; i++ {
			if _, err := os.Stat(out); errors.Is(err, os.ErrNotExist) {
				break
			}
			out = base + "-" + strconv.Itoa(i)
		}
	} else if _, err := os.Stat(filepath.Join(out, "run.json")); err == nil {
		return "", usageError("run: %s already holds a run; choose another --out", out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", usageError("run: cannot create run directory: %v", err)
	}
	return out, nil
}

// runJSON is run.json: the resolved configuration and where it ran.
type runJSON struct {
	Version string    `json:"version"`
	Start   time.Time `json:"start"`
	Spec    spec      `json:"config"`
	Env     struct {
		Go       string `json:"go"`
		OS       string `json:"os"`
		Arch     string `json:"arch"`
		CPUs     int    `json:"cpus"`
		Hostname string `json:"hostname"`
	} `json:"environment"`
}

func writeRunJSON(dir string, s spec, start time.Time) error {
	s.Header, s.URL = redacted(s.Header), redactedURL(s.URL)
	r := runJSON{Version: version, Start: start.UTC(), Spec: s}
	r.Env.Go = runtime.Version()
	r.Env.OS, r.Env.Arch, r.Env.CPUs = runtime.GOOS, runtime.GOARCH, runtime.NumCPU()
	r.Env.Hostname, _ = os.Hostname()
	return analysis.WriteJSON(filepath.Join(dir, "run.json"), r)
}
