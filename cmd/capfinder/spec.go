package main

import (
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/urfave/cli/v2"
)

const (
	second = time.Second
	minute = time.Minute
)

// specFromFlags reads and checks the run options. Every problem is a
// usage error (exit 2) naming the flag.
func specFromFlags(c *cli.Context) (runner.Spec, error) {
	s := runner.Spec{
		Mode:           rundir.Mode(c.String("mode")),
		Method:         c.String("method"),
		Body:           c.String("body"),
		DataBase64:     c.String("data-base64"),
		DataFile:       c.String("data-file"),
		MultiLine:      c.Bool("multi-line"),
		DataOrder:      rundir.DataOrder(c.String("data-order")),
		Config:         c.String("config"),
		MinQPS:         c.Float64("min-qps"),
		MaxQPS:         c.Float64("max-qps"),
		QPSGrowthDelta: c.Float64("qps-growth-delta"),
		AdjustInterval: c.Duration("adjust-interval"),
		StepDuration:   c.Duration("step-duration"),
		Precision:      c.Float64("precision"),
		Hold:           c.Duration("hold"),
		Warmup:         c.Duration("warmup"),
		Duration:       c.Duration("duration"),
		MaxRT:          c.Duration("max-rt"),
		RTQuantile:     c.Float64("rt-quantile"),
		FaultTolerate:  c.Float64("fault-tolerate"),
		Confidence:     c.Float64("confidence"),
		FaultAction:    rundir.FaultAction(c.String("fault-action")),
		FailBelow:      c.Float64("fail-below"),
		Rate:           c.Float64("rate"),
		Concurrency:    c.Int("concurrency"),
		Requests:       c.Int64("requests"),
		Arrival:        rundir.Arrival(c.String("arrival")),
		Burstiness:     c.Float64("burstiness"),
		Seed:           c.Uint64("seed"),
		Timeout:        c.Duration("timeout"),
		API:            rundir.API(c.String("api")),
		Model:          c.String("model"),
		Dataset:        c.String("dataset"),
		MaxTokens:      c.Int("max-tokens"),
		IgnoreEOS:      c.Bool("ignore-eos"),
		NoStream:       !c.Bool("stream"),
		Calibrate:      rundir.Calibrate(c.String("calibrate")),
		Tokenizer:      c.String("tokenizer"),
		MaxTTFT:        c.Duration("max-ttft"),
		MaxTPOT:        c.Duration("max-tpot"),
		TargetQPS:      c.Float64("target-qps"),
		Headroom:       c.Float64("headroom"),
		ReplicaCost:    c.Float64("replica-cost"),
		ServerMetrics:  c.String("server-metrics"),
		Out:            c.String("out"),
		Insecure:       c.Bool("insecure"),
	}
	maxBody, err := parseSize(c.String("max-body"))
	if err != nil {
		return s, usageError("run: --max-body: %v", err)
	}
	s.MaxBody = maxBody
	// A config file sets what the command line does not; given is what
	// either set.
	given := c.IsSet
	var desc *runner.BenchDesc
	if path := c.String("config"); path != "" {
		d, err := runner.ReadBenchDesc(path)
		if err != nil {
			return s, usageError("run: %v", err)
		}
		fromFile := d.Apply(&s, c.IsSet)
		given = func(name string) bool { return c.IsSet(name) || fromFile[name] }
		desc = d
	}
	if s.API.LLM() {
		// Inference replicas take requests per second, not hundreds, and
		// answer in seconds: a step must span many answers, and its
		// warm-up the backlog the step before left.
		if !given("min-qps") {
			s.MinQPS = 1
		}
		if !given("step-duration") {
			s.StepDuration = llmStep
		}
		if !given("warmup") {
			s.Warmup = llmWarmup
		}
	}
	if path := c.String("profile"); path != "" {
		if given("mode") && s.Mode != rundir.ModeProfile {
			return s, usageError("run: --profile plans its own load; leave out --mode %s", s.Mode)
		}
		stages, err := runner.ReadProfile(path)
		if err != nil {
			return s, usageError("run: %v", err)
		}
		s.Mode, s.Profile, s.Stages = rundir.ModeProfile, path, stages
		if !given("duration") {
			s.Duration = runner.Total(stages)
		}
	}
	// --rate alone means a fixed rate; with a mode that sets its own rate
	// it would be ignored, so it is refused.
	switch {
	case !c.IsSet("rate") || s.Mode == rundir.ModeRate:
	case s.Mode == rundir.ModeProfile:
		return s, usageError("run: --profile plans its own rates; leave out --rate")
	case given("mode"):
		return s, usageError("run: --rate is for --mode rate; --mode %s sets its own rate (a search starts at --min-qps)", s.Mode)
	default:
		s.Mode = rundir.ModeRate
	}
	if b, ok := strings.CutPrefix(s.Body, "@"); ok {
		s.Body, s.BodyFile = "", b
	}
	switch c.NArg() {
	case 0:
		if desc == nil || desc.URL == "" {
			return s, usageError("run: missing the target URL; e.g. capfinder run http://127.0.0.1:8080/")
		}
		s.URL = desc.URL
	case 1:
		s.URL = c.Args().First()
	default:
		return s, usageError("run: one target URL expected, got %d arguments: %s", c.NArg(), strings.Join(c.Args().Slice(), " "))
	}
	// The file's headers first; a header the command line names replaces
	// the file's.
	s.Header = map[string][]string{}
	if desc != nil {
		s.Service = desc.ServiceName
		if err := runner.ParseHeaders(s.Header, desc.Headers); err != nil {
			return s, usageError("run: %v", err)
		}
	}
	flagHeaders := map[string][]string{}
	if err := runner.ParseHeaders(flagHeaders, c.StringSlice("header")); err != nil {
		return s, usageError("run: %v", err)
	}
	maps.Copy(s.Header, flagHeaders)
	if err := s.Check(); err != nil {
		return s, usageError("run: %v", err)
	}
	return s, nil
}

// The step length and warm-up of LLM runs, whose answers take seconds.
const (
	llmStep   = 15 * time.Second
	llmWarmup = 3 * time.Second
)

// parseSize reads a size in bytes: a number, optionally with a unit
// (B, KB, MB, GB in powers of 1000; KiB, MiB, GiB in powers of 1024).
func parseSize(v string) (int64, error) {
	units := []struct {
		suffix string
		mul    float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mul := strings.TrimSpace(v), 1.0
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mul = strings.TrimSpace(n), u.mul
			break
		}
	}
	x, err := strconv.ParseFloat(num, 64)
	if err != nil || !(x*mul >= 1) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%q is not a size; e.g. 512KiB, 16MiB or 1048576", v)
	}
	return int64(x * mul), nil
}
