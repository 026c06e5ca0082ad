package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
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
	cmd := c.Command.Name
	// A spec file gives every field, the command line what it sets;
	// without one, every option gives its field, set or by default.
	var s runner.Spec
	fromSpec := c.String("spec") != ""
	if fromSpec {
		if c.IsSet("config") {
			return s, usageError("%s: --spec gives the whole spec; leave out --config", cmd)
		}
		var err error
		if s, err = readSpec(c.String("spec")); err != nil {
			return s, usageError("%s: --spec %s: %v", cmd, c.String("spec"), err)
		}
	}
	take := func(name string) bool { return !fromSpec || c.IsSet(name) }
	for name, field := range optionFields(&s) {
		if v := c.Value(name); v != nil && take(name) {
			setField(field, v)
		}
	}
	if take("stream") {
		s.NoStream = !c.Bool("stream")
	}
	if take("max-body") {
		maxBody, err := parseSize(c.String("max-body"))
		if err != nil {
			return s, usageError("%s: --max-body: %v", cmd, err)
		}
		s.MaxBody = maxBody
	}
	// A file sets what the command line does not; given is what either set.
	given := func(name string) bool { return fromSpec || c.IsSet(name) }
	var desc *runner.BenchDesc
	if path := c.String("config"); path != "" {
		d, err := runner.ReadBenchDesc(path)
		if err != nil {
			return s, usageError("%s: %v", cmd, err)
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
			return s, usageError("%s: --profile plans its own load; leave out --mode %s", cmd, s.Mode)
		}
		stages, err := runner.ReadProfile(path)
		if err != nil {
			return s, usageError("%s: %v", cmd, err)
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
		return s, usageError("%s: --profile plans its own rates; leave out --rate", cmd)
	case given("mode"):
		return s, usageError("%s: --rate is for --mode rate; --mode %s sets its own rate (a search starts at --min-qps)", cmd, s.Mode)
	default:
		s.Mode = rundir.ModeRate
	}
	// --body replaces a spec file's body; --body @FILE names a file.
	if c.IsSet("body") {
		s.BodyFile = ""
		if b, ok := strings.CutPrefix(s.Body, "@"); ok {
			s.Body, s.BodyFile = "", b
		}
	}
	switch c.NArg() {
	case 0:
		if desc != nil {
			s.URL = desc.URL
		}
		if s.URL == "" {
			return s, usageError("%s: missing the target URL; e.g. capfinder %s http://127.0.0.1:8080/", cmd, cmd)
		}
	case 1:
		s.URL = c.Args().First()
	default:
		return s, usageError("%s: one target URL expected, got %d arguments: %s", cmd, c.NArg(), strings.Join(c.Args().Slice(), " "))
	}
	var fileHeaders []string
	switch {
	case desc != nil:
		s.Service, fileHeaders = desc.ServiceName, desc.Headers
	case fromSpec:
		fileHeaders = headerLines(s.Header)
	}
	if err := setHeaders(&s, fileHeaders, c.StringSlice("header")); err != nil {
		return s, usageError("%s: %v", cmd, err)
	}
	if fromSpec {
		if err := checkNotRedacted(s); err != nil {
			return s, usageError("%s: --spec %s: %v", cmd, c.String("spec"), err)
		}
	}
	if err := s.Check(); err != nil {
		return s, usageError("%s: %v", cmd, err)
	}
	return s, nil
}

// setHeaders sets the headers of s: a file's first, then the command
// line's, each of which replaces the file's header of its name.
func setHeaders(s *runner.Spec, file, flags []string) error {
	s.Header = map[string][]string{}
	if err := runner.ParseHeaders(s.Header, file); err != nil {
		return err
	}
	given := map[string][]string{}
	if err := runner.ParseHeaders(given, flags); err != nil {
		return err
	}
	maps.Copy(s.Header, given)
	return nil
}

// optionFields maps each run option that sets a field of s as it is to
// that field; --stream, --max-body, --header and --profile are read apart.
func optionFields(s *runner.Spec) map[string]any {
	return map[string]any{
		"mode": &s.Mode, "method": &s.Method, "body": &s.Body, "data-base64": &s.DataBase64,
		"data-file": &s.DataFile, "multi-line": &s.MultiLine, "data-order": &s.DataOrder, "config": &s.Config,
		"min-qps": &s.MinQPS, "max-qps": &s.MaxQPS, "qps-growth-delta": &s.QPSGrowthDelta,
		"adjust-interval": &s.AdjustInterval, "step-duration": &s.StepDuration, "precision": &s.Precision,
		"hold": &s.Hold, "warmup": &s.Warmup, "duration": &s.Duration,
		"max-rt": &s.MaxRT, "rt-quantile": &s.RTQuantile, "fault-tolerate": &s.FaultTolerate,
		"confidence": &s.Confidence, "fault-action": &s.FaultAction, "fail-below": &s.FailBelow,
		"rate": &s.Rate, "concurrency": &s.Concurrency, "requests": &s.Requests, "arrival": &s.Arrival,
		"burstiness": &s.Burstiness, "seed": &s.Seed, "timeout": &s.Timeout,
		"api": &s.API, "model": &s.Model, "dataset": &s.Dataset, "max-tokens": &s.MaxTokens,
		"ignore-eos": &s.IgnoreEOS, "calibrate": &s.Calibrate, "tokenizer": &s.Tokenizer,
		"max-ttft": &s.MaxTTFT, "max-tpot": &s.MaxTPOT, "target-qps": &s.TargetQPS, "headroom": &s.Headroom,
		"replica-cost": &s.ReplicaCost, "server-metrics": &s.ServerMetrics, "out": &s.Out, "insecure": &s.Insecure,
	}
}

// setField sets the field p points to to an option's value v, converted
// to the field's type (a string to a rundir.Mode, say).
func setField(p, v any) {
	f := reflect.ValueOf(p).Elem()
	f.Set(reflect.ValueOf(v).Convert(f.Type()))
}

// readSpec reads a spec file: a runner.Spec as JSON, or a run.json (told
// by its "config" object), whose run directory is left out so that the
// run again writes a new one. A field the spec does not know is an error.
func readSpec(path string) (runner.Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return runner.Spec{}, err
	}
	var runJSON struct {
		Config json.RawMessage `json:"config"`
	}
	// A file that is no JSON object fails the strict decoding below.
	_ = json.Unmarshal(data, &runJSON)
	if bytes.HasPrefix(runJSON.Config, []byte("{")) {
		var info rundir.RunInfo
		err := decodeStrict(data, &info)
		info.Spec.Out = ""
		return info.Spec, err
	}
	var s runner.Spec
	return s, decodeStrict(data, &s)
}

// decodeStrict decodes the JSON data into v, refusing unknown fields and
// saying where in data a bad value lies.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New(rundir.JSONError(data, err, ""))
	}
	return nil
}

// headerLines writes headers as the "Name: value" lines -H takes.
func headerLines(h map[string][]string) []string {
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			lines = append(lines, k+": "+v)
		}
	}
	return lines
}

// checkNotRedacted refuses a spec that still holds a value run.json hid:
// a recorded run sends its secrets again only when they are given again.
func checkNotRedacted(s runner.Spec) error {
	for _, k := range slices.Sorted(maps.Keys(s.Header)) {
		if slices.Contains(s.Header[k], rundir.RedactedValue) {
			return fmt.Errorf("header %s was redacted; give it again with -H '%s: ...'", k, k)
		}
	}
	for _, u := range []struct{ what, v string }{{"the target URL", s.URL}, {"--server-metrics", s.ServerMetrics}, {"--data-file", s.DataFile}} {
		if rundir.HoldsRedacted(u.v) {
			return fmt.Errorf("%s was redacted; give it again", u.what)
		}
	}
	return nil
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
