package main

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/probe"
)

const (
	second = time.Second
	minute = time.Minute
)

// spec is a run's resolved configuration: what run.json records (with
// secrets redacted) and what the run is built from.
type spec struct {
	URL    string `json:"url"`
	Mode   string `json:"mode"`
	Method string `json:"method,omitempty"`
	// Header keeps the values as given; run.json gets a redacted copy.
	Header http.Header `json:"header,omitempty"`
	// Body is the literal body; BodyFile a file given as --body @FILE.
	Body       string `json:"-"`
	BodyFile   string `json:"body_file,omitempty"`
	DataBase64 string `json:"-"`
	DataFile   string `json:"data_file,omitempty"`
	MultiLine  bool   `json:"multi_line,omitempty"`
	DataOrder  string `json:"data_order,omitempty"`
	// Config is the bench_desc file read, Service the service it names.
	Config  string `json:"config_file,omitempty"`
	Service string `json:"service,omitempty"`

	MinQPS         float64       `json:"min_qps"`
	MaxQPS         float64       `json:"max_qps"`
	QPSGrowthDelta float64       `json:"qps_growth_delta"`
	AdjustInterval time.Duration `json:"adjust_interval_ns"`
	StepDuration   time.Duration `json:"step_duration_ns"`
	Precision      float64       `json:"precision"`
	Warmup         time.Duration `json:"warmup_ns"`
	Duration       time.Duration `json:"duration_ns"`

	MaxRT         time.Duration `json:"max_rt_ns"`
	RTQuantile    float64       `json:"rt_quantile"`
	FaultTolerate float64       `json:"fault_tolerate"`
	FaultAction   string        `json:"fault_action"`
	FailBelow     float64       `json:"fail_below,omitempty"`

	Rate        float64 `json:"rate,omitempty"`
	Concurrency int     `json:"concurrency"`
	Requests    int64   `json:"requests,omitempty"`
	Arrival     string  `json:"arrival"`
	Burstiness  float64 `json:"burstiness"`
	Seed        uint64  `json:"seed"`

	Timeout time.Duration `json:"timeout_ns"`

	API       string        `json:"api"`
	Model     string        `json:"model,omitempty"`
	Dataset   string        `json:"dataset,omitempty"`
	MaxTokens int           `json:"max_tokens,omitempty"`
	IgnoreEOS bool          `json:"ignore_eos,omitempty"`
	NoStream  bool          `json:"no_stream,omitempty"`
	MaxTTFT   time.Duration `json:"max_ttft_ns,omitempty"`
	MaxTPOT   time.Duration `json:"max_tpot_ns,omitempty"`

	// Profile is the load profile file; Stages what it plans.
	Profile string  `json:"profile,omitempty"`
	Stages  []stage `json:"stages,omitempty"`

	TargetQPS float64 `json:"target_qps,omitempty"`
	Headroom  float64 `json:"headroom"`
	Out       string  `json:"out"`
	Quiet     bool    `json:"-"`
}

// defaultConcurrency is the in-flight default of each mode: the EAS manual
// default, a small closed loop, a large throughput pool, and a generous
// bound for open-loop modes.
var defaultConcurrency = map[string]int{
	"manual": 2, "concurrency": 8, "throughput": 64,
	"auto": 4096, "scan": 4096, "rate": 4096, "profile": 4096,
}

// specFromFlags reads and checks the run options. Every problem is a
// usage error (exit 2) naming the flag.
func specFromFlags(c *cli.Context) (spec, error) {
	var desc *benchDesc
	if path := c.String("config"); path != "" {
		d, err := readConfig(path)
		if err != nil {
			return spec{}, usageError("run: %v", err)
		}
		if err := d.apply(c); err != nil {
			return spec{}, usageError("run: %v", err)
		}
		desc = d
	}
	s := spec{
		Mode:           c.String("mode"),
		Method:         c.String("method"),
		Body:           c.String("body"),
		DataBase64:     c.String("data-base64"),
		DataFile:       c.String("data-file"),
		MultiLine:      c.Bool("multi-line"),
		DataOrder:      c.String("data-order"),
		Config:         c.String("config"),
		MinQPS:         c.Float64("min-qps"),
		MaxQPS:         c.Float64("max-qps"),
		QPSGrowthDelta: c.Float64("qps-growth-delta"),
		AdjustInterval: c.Duration("adjust-interval"),
		StepDuration:   c.Duration("step-duration"),
		Precision:      c.Float64("precision"),
		Warmup:         c.Duration("warmup"),
		Duration:       c.Duration("duration"),
		MaxRT:          c.Duration("max-rt"),
		RTQuantile:     c.Float64("rt-quantile"),
		FaultTolerate:  c.Float64("fault-tolerate"),
		FaultAction:    c.String("fault-action"),
		FailBelow:      c.Float64("fail-below"),
		Rate:           c.Float64("rate"),
		Concurrency:    c.Int("concurrency"),
		Requests:       c.Int64("requests"),
		Arrival:        c.String("arrival"),
		Burstiness:     c.Float64("burstiness"),
		Seed:           c.Uint64("seed"),
		Timeout:        c.Duration("timeout"),
		API:            c.String("api"),
		Model:          c.String("model"),
		Dataset:        c.String("dataset"),
		MaxTokens:      c.Int("max-tokens"),
		IgnoreEOS:      c.Bool("ignore-eos"),
		NoStream:       !c.Bool("stream"),
		MaxTTFT:        c.Duration("max-ttft"),
		MaxTPOT:        c.Duration("max-tpot"),
		TargetQPS:      c.Float64("target-qps"),
		Headroom:       c.Float64("headroom"),
		Out:            c.String("out"),
		Quiet:          c.Bool("quiet"),
	}
	if s.isLLM() {
		// Inference replicas take requests per second, not hundreds, and
		// answer in seconds: a step must span many answers, and its
		// warm-up the backlog the step before left.
		if !c.IsSet("min-qps") {
			s.MinQPS = 1
		}
		if !c.IsSet("step-duration") {
			s.StepDuration = llmStep
		}
		if !c.IsSet("warmup") {
			s.Warmup = llmWarmup
		}
	}
	if path := c.String("profile"); path != "" {
		if c.IsSet("mode") && s.Mode != "profile" {
			return s, usageError("run: --profile plans its own load; leave out --mode %s", s.Mode)
		}
		stages, err := readProfile(path)
		if err != nil {
			return s, usageError("run: %v", err)
		}
		s.Mode, s.Profile, s.Stages = "profile", path, stages
		if !c.IsSet("duration") {
			s.Duration = total(stages)
		}
	}
	// --rate alone means a fixed rate; with a mode that sets its own rate
	// it would be ignored, so it is refused.
	switch {
	case !c.IsSet("rate") || s.Mode == "rate":
	case s.Mode == "profile":
		return s, usageError("run: --profile plans its own rates; leave out --rate")
	case c.IsSet("mode"):
		return s, usageError("run: --rate is for --mode rate; --mode %s sets its own rate (a search starts at --min-qps)", s.Mode)
	default:
		s.Mode = "rate"
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
	s.Header = http.Header{}
	if desc != nil {
		s.Service = desc.ServiceName
		if err := parseHeaders(s.Header, desc.Headers); err != nil {
			return s, err
		}
	}
	flagHeaders := http.Header{}
	if err := parseHeaders(flagHeaders, c.StringSlice("header")); err != nil {
		return s, err
	}
	for k, vs := range flagHeaders {
		s.Header[k] = vs
	}
	if err := s.check(); err != nil {
		return s, usageError("run: %v", err)
	}
	return s, nil
}

// check validates a spec and fills mode defaults. Its errors name the
// flag at fault; callers make them usage errors.
func (s *spec) check() error {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", s.URL)
	}
	if _, ok := defaultConcurrency[s.Mode]; !ok {
		return fmt.Errorf("unknown --mode %q (want auto, scan, manual, rate, concurrency or throughput, or --profile FILE)", s.Mode)
	}
	if s.Mode == "profile" && len(s.Stages) == 0 {
		return fmt.Errorf("--mode profile needs --profile FILE")
	}
	if s.FaultAction != "revise" && s.FaultAction != "stop" {
		return fmt.Errorf("unknown --fault-action %q (want revise or stop)", s.FaultAction)
	}
	switch probe.API(s.API) {
	case probe.APIHTTP, probe.APIOpenAIChat, probe.APIOpenAICompletions, probe.APISSE:
	default:
		return fmt.Errorf("unknown --api %q (want http, openai-chat, openai-completions or sse)", s.API)
	}
	if !s.isLLM() && (s.Model != "" || s.MaxTokens != 0 || s.IgnoreEOS || s.NoStream) {
		return fmt.Errorf("--model, --max-tokens, --ignore-eos and --stream need --api openai-chat or openai-completions")
	}
	var given []string
	for _, d := range []struct{ name, v string }{
		{"--body", s.Body + s.BodyFile}, {"--data-base64", s.DataBase64}, {"--data-file", s.DataFile}, {"--dataset", s.Dataset},
	} {
		if d.v != "" {
			given = append(given, d.name)
		}
	}
	if len(given) > 1 {
		return fmt.Errorf("%s each give the requests; use one", strings.Join(given, " and "))
	}
	if s.MultiLine && s.DataFile == "" {
		return fmt.Errorf("--multi-line splits the files of --data-file, which is not given")
	}
	if s.DataOrder == "" {
		s.DataOrder = "round-robin"
	}
	if s.DataOrder != "round-robin" && s.DataOrder != "random" {
		return fmt.Errorf("unknown --data-order %q (want round-robin or random)", s.DataOrder)
	}
	switch s.Arrival {
	case "constant", "poisson", "gamma":
	default:
		return fmt.Errorf("unknown --arrival %q (want constant, poisson or gamma)", s.Arrival)
	}
	positive := []struct {
		name string
		v    float64
	}{
		{"--min-qps", s.MinQPS}, {"--max-qps", s.MaxQPS},
		{"--adjust-interval", s.AdjustInterval.Seconds()}, {"--step-duration", s.StepDuration.Seconds()},
		{"--duration", s.Duration.Seconds()}, {"--timeout", s.Timeout.Seconds()},
	}
	for _, p := range positive {
		if !(p.v > 0) || math.IsInf(p.v, 0) {
			return fmt.Errorf("%s must be positive", p.name)
		}
	}
	nonNegative := []struct {
		name string
		v    float64
	}{
		{"--qps-growth-delta", s.QPSGrowthDelta}, {"--warmup", s.Warmup.Seconds()},
		{"--max-rt", s.MaxRT.Seconds()}, {"--rate", s.Rate}, {"--concurrency", float64(s.Concurrency)},
		{"--requests", float64(s.Requests)}, {"--max-tokens", float64(s.MaxTokens)},
		{"--max-ttft", s.MaxTTFT.Seconds()}, {"--max-tpot", s.MaxTPOT.Seconds()}, {"--target-qps", s.TargetQPS}, {"--fail-below", s.FailBelow},
	}
	for _, p := range nonNegative {
		if p.v < 0 || math.IsNaN(p.v) {
			return fmt.Errorf("%s must not be negative", p.name)
		}
	}
	switch {
	case s.MinQPS > s.MaxQPS:
		return fmt.Errorf("--min-qps %g is above --max-qps %g", s.MinQPS, s.MaxQPS)
	case !(s.RTQuantile > 0 && s.RTQuantile < 1):
		return fmt.Errorf("--rt-quantile must be in (0,1), e.g. 0.99")
	case !(s.FaultTolerate >= 0 && s.FaultTolerate < 1):
		return fmt.Errorf("--fault-tolerate must be in [0,1), e.g. 0.001")
	case !(s.Headroom >= 0 && s.Headroom < 1):
		return fmt.Errorf("--headroom must be in [0,1), e.g. 0.3")
	case !(s.Precision > 0 && s.Precision < 1):
		return fmt.Errorf("--precision must be in (0,1), e.g. 0.02")
	case s.Arrival == "gamma" && !(s.Burstiness >= 0.1 && s.Burstiness <= 200):
		return fmt.Errorf("--burstiness must be in [0.1,200]")
	case s.Mode == "rate" && s.Rate <= 0:
		return fmt.Errorf("--mode rate needs --rate, e.g. --rate 50")
	case s.Mode == "scan" && s.QPSGrowthDelta <= 0:
		return fmt.Errorf("--mode scan needs a positive --qps-growth-delta")
	}
	if s.Concurrency == 0 {
		s.Concurrency = defaultConcurrency[s.Mode]
	}
	return nil
}

// isLLM reports whether the run speaks an OpenAI API.
func (s *spec) isLLM() bool {
	return s.API == string(probe.APIOpenAIChat) || s.API == string(probe.APIOpenAICompletions)
}

// streams reports whether the run's requests stream tokens or events.
func (s *spec) streams() bool {
	return (s.isLLM() && !s.NoStream) || s.API == string(probe.APISSE)
}

// The step length and warm-up of LLM runs, whose answers take seconds.
const (
	llmStep   = 15 * time.Second
	llmWarmup = 3 * time.Second
)

// defaultDataset is what an LLM run without --dataset or --body sends.
const defaultDataset = "synthetic:input=256,output=128"

// parseHeaders reads repeated "K: V" header flags into h. A value may
// name environment variables as ${NAME}, so that secrets stay out of
// command lines and files; an unset one is an error.
func parseHeaders(h http.Header, hs []string) error {
	for _, kv := range hs {
		k, v, ok := strings.Cut(kv, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return usageError("run: header %q is not \"Name: value\"", kv)
		}
		v, err := expandEnv(strings.TrimSpace(v))
		if err != nil {
			return usageError("run: header %s: %v", k, err)
		}
		h.Add(k, v)
	}
	return nil
}

// expandEnv replaces each ${NAME} in s with the environment variable's
// value. A "$" not followed by "{" is kept as it is.
func expandEnv(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unclosed ${ in %q", s)
		}
		name := s[i+2 : i+j]
		v, ok := os.LookupEnv(name)
		if !ok || name == "" {
			return "", fmt.Errorf("${%s} is not set in the environment", name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

// secretHeaders are redacted wherever capfinder writes a header.
var secretHeaders = []string{"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"}

// secretName reports whether a lower-cased header or query parameter name
// looks like it carries a credential.
func secretName(lk string) bool {
	for _, w := range []string{"token", "secret", "key", "auth", "password", "signature", "credential", "session"} {
		if strings.Contains(lk, w) {
			return true
		}
	}
	return false
}

// redactedURL is u as capfinder writes and prints it: without a password,
// and with the values of secret-looking query parameters replaced.
func redactedURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	changed := false
	for k := range q {
		if secretName(strings.ToLower(k)) {
			q[k] = []string{"REDACTED"}
			changed = true
		}
	}
	if changed {
		p.RawQuery = q.Encode()
	}
	return p.Redacted()
}

// redacted returns a copy of h with the values of secret-looking headers
// replaced.
func redacted(h http.Header) http.Header {
	out := http.Header{}
	for k, vs := range h {
		lk := strings.ToLower(k)
		secret := false
		for _, s := range secretHeaders {
			if lk == s {
				secret = true
			}
		}
		if secretName(lk) {
			secret = true
		}
		for _, v := range vs {
			if secret {
				v = "REDACTED"
			}
			out.Add(k, v)
		}
	}
	return out
}
