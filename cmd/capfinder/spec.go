package main

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
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
	Body   string      `json:"-"`

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
	"auto": 4096, "scan": 4096, "rate": 4096,
}

// specFromFlags reads and checks the run options. Every problem is a
// usage error (exit 2) naming the flag.
func specFromFlags(c *cli.Context) (spec, error) {
	s := spec{
		Mode:           c.String("mode"),
		Method:         c.String("method"),
		Body:           c.String("body"),
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
	if s.isLLM() && !c.IsSet("min-qps") {
		// Inference replicas take requests per second, not hundreds.
		s.MinQPS = 1
	}
	switch c.NArg() {
	case 0:
		return s, usageError("run: missing the target URL; e.g. capfinder run http://127.0.0.1:8080/")
	case 1:
		s.URL = c.Args().First()
	default:
		return s, usageError("run: one target URL expected, got %d arguments: %s", c.NArg(), strings.Join(c.Args().Slice(), " "))
	}
	h, err := parseHeaders(c.StringSlice("header"))
	if err != nil {
		return s, err
	}
	s.Header = h
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
		return fmt.Errorf("unknown --mode %q (want auto, scan, manual, rate, concurrency or throughput)", s.Mode)
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
	if s.Dataset != "" && s.Body != "" {
		return fmt.Errorf("--dataset and --body both give the requests; use one")
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

// defaultDataset is what an LLM run without --dataset or --body sends.
const defaultDataset = "synthetic:input=256,output=128"

// parseHeaders reads repeated "K: V" header flags.
func parseHeaders(hs []string) (http.Header, error) {
	h := http.Header{}
	for _, kv := range hs {
		k, v, ok := strings.Cut(kv, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, usageError("run: header %q is not \"Name: value\"", kv)
		}
		h.Add(k, strings.TrimSpace(v))
	}
	return h, nil
}

// secretHeaders are redacted wherever capfinder writes a header.
var secretHeaders = []string{"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"}

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
		if strings.Contains(lk, "token") || strings.Contains(lk, "secret") || strings.Contains(lk, "key") {
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
