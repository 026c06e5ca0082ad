package rundir

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Mode is how a run chooses its load.
type Mode string

// The modes (DESIGN.md, section 3).
const (
	ModeAuto        Mode = "auto"        // grow, bisect and confirm
	ModeScan        Mode = "scan"        // EAS: add a rate every interval
	ModeManual      Mode = "manual"      // fixed concurrency, changeable while running
	ModeRate        Mode = "rate"        // a fixed open-loop rate
	ModeConcurrency Mode = "concurrency" // a fixed closed loop
	ModeThroughput  Mode = "throughput"  // everything at once, a large closed loop
	ModeProfile     Mode = "profile"     // planned stages of rates and ramps
)

// Search reports whether the mode searches for the capacity, rather than
// holding a load it was given.
func (m Mode) Search() bool { return m == ModeAuto || m == ModeScan }

// Steerable reports whether the load of a running run of this mode may
// be changed (Runner.SetLoad): the fixed loads.
func (m Mode) Steerable() bool {
	return m == ModeManual || m == ModeRate || m == ModeConcurrency || m == ModeThroughput
}

// ClosedLoop reports whether the mode's load is a number of workers
// rather than a rate.
func (m Mode) ClosedLoop() bool {
	return m == ModeManual || m == ModeConcurrency || m == ModeThroughput
}

// DefaultConcurrency is the in-flight default of a mode: the EAS manual
// default, a small closed loop, a large throughput pool, and a generous
// bound for open-loop modes.
func (m Mode) DefaultConcurrency() int {
	switch m {
	case ModeManual:
		return 2
	case ModeConcurrency:
		return 8
	case ModeThroughput:
		return 64
	}
	return 4096
}

func (m Mode) valid() bool {
	switch m {
	case ModeAuto, ModeScan, ModeManual, ModeRate, ModeConcurrency, ModeThroughput, ModeProfile:
		return true
	}
	return false
}

// Arrival is the process spacing open-loop sends.
type Arrival string

// The arrival processes.
const (
	ArrivalConstant Arrival = "constant"
	ArrivalPoisson  Arrival = "poisson"
	ArrivalGamma    Arrival = "gamma" // shaped by Spec.Burstiness
)

// API names the protocol a client speaks.
type API string

// The APIs capfinder speaks.
const (
	APIHTTP              API = "http"
	APIOpenAIChat        API = "openai-chat"
	APIOpenAICompletions API = "openai-completions"
	APISSE               API = "sse"
)

// Path returns the endpoint path of an OpenAI API.
func (a API) Path() string {
	if a == APIOpenAICompletions {
		return "/v1/completions"
	}
	return "/v1/chat/completions"
}

// LLM reports whether the API is an OpenAI one, with token metrics.
func (a API) LLM() bool { return a == APIOpenAIChat || a == APIOpenAICompletions }

// FaultAction is what a search does after a limit breaks.
type FaultAction string

// The fault actions.
const (
	FaultRevise FaultAction = "revise" // back off until every limit holds, then track
	FaultStop   FaultAction = "stop"   // hold the last passing load
)

// DataOrder is the order several request bodies are sent in.
type DataOrder string

// The data orders.
const (
	OrderRoundRobin DataOrder = "round-robin"
	OrderRandom     DataOrder = "random" // seeded by Spec.Seed
)

// Spec is everything a run is made from, resolved: what the runner runs
// and what run.json records (Redacted). Zero values are not defaults;
// Check fills the few that depend on the mode.
type Spec struct {
	URL    string `json:"url"`
	Mode   Mode   `json:"mode"`
	Method string `json:"method,omitempty"`
	// Header keeps the values as given; run.json gets a redacted copy.
	Header map[string][]string `json:"header,omitempty"`
	// Body is the literal body; BodyFile a file given as --body @FILE.
	Body       string    `json:"-"`
	BodyFile   string    `json:"body_file,omitempty"`
	DataBase64 string    `json:"-"`
	DataFile   string    `json:"data_file,omitempty"`
	MultiLine  bool      `json:"multi_line,omitempty"`
	DataOrder  DataOrder `json:"data_order,omitempty"`
	// Config is the bench_desc file read, Service the service it names.
	Config  string `json:"config_file,omitempty"`
	Service string `json:"service,omitempty"`

	// The search: scan and auto offer rates between MinQPS and MaxQPS;
	// scan adds QPSGrowthDelta every AdjustInterval.
	MinQPS         float64       `json:"min_qps"`
	MaxQPS         float64       `json:"max_qps"`
	QPSGrowthDelta float64       `json:"qps_growth_delta"`
	AdjustInterval time.Duration `json:"adjust_interval_ns"`
	// StepDuration is how long auto and the fixed loads hold a step;
	// auto stops when its bracket is narrower than Precision.
	StepDuration time.Duration `json:"step_duration_ns"`
	Precision    float64       `json:"precision"`
	// Hold keeps an auto run at its answer this long once it converged,
	// tracking the limit.
	Hold time.Duration `json:"hold_ns,omitempty"`
	// Warmup is the start of each step left out of its verdict; Duration
	// the most load time the run may take.
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`

	// The limits: latency at RTQuantile, the error budget, and what a
	// search does when one breaks; FailBelow is the capacity under which
	// the command fails.
	MaxRT         time.Duration `json:"max_rt_ns"`
	RTQuantile    float64       `json:"rt_quantile"`
	FaultTolerate float64       `json:"fault_tolerate"`
	FaultAction   FaultAction   `json:"fault_action"`
	FailBelow     float64       `json:"fail_below,omitempty"`
	// Confidence is how sure a step's verdict must be before it ends on
	// it; 0 (a run recorded before it existed) means 0.95.
	Confidence float64 `json:"confidence,omitempty"`

	// The load: a fixed Rate, the in-flight bound or workers, a request
	// count, the arrival process and its seed.
	Rate        float64 `json:"rate,omitempty"`
	Concurrency int     `json:"concurrency"`
	Requests    int64   `json:"requests,omitempty"`
	Arrival     Arrival `json:"arrival"`
	Burstiness  float64 `json:"burstiness"`
	Seed        uint64  `json:"seed"`

	Timeout time.Duration `json:"timeout_ns"`
	// MaxBody bounds the bytes read of one answer; one larger fails as
	// too_large.
	MaxBody int64 `json:"max_body,omitempty"`
	// Insecure skips TLS certificate verification; the answer says so.
	Insecure bool `json:"insecure,omitempty"`

	// API is the protocol; an LLM API names a Model and takes prompts
	// from a Dataset.
	API     API    `json:"api"`
	Model   string `json:"model,omitempty"`
	Dataset string `json:"dataset,omitempty"`
	// MaxTokens, IgnoreEOS and NoStream shape every LLM request: its
	// output budget, whether to spend it all, whether to stream.
	MaxTokens int  `json:"max_tokens,omitempty"`
	IgnoreEOS bool `json:"ignore_eos,omitempty"`
	NoStream  bool `json:"no_stream,omitempty"`
	// Calibrate is how sized prompts are calibrated to the server's
	// tokens: CalibrateAuto (default), CalibrateUsage, CalibrateTokenize
	// or CalibrateOff; Tokenizer, a tokenizer.json file, counts them
	// offline instead.
	Calibrate Calibrate `json:"calibrate,omitempty"`
	Tokenizer string    `json:"tokenizer,omitempty"`
	// MaxTTFT and MaxTPOT bound time to first token and time per output
	// token at RTQuantile.
	MaxTTFT time.Duration `json:"max_ttft_ns,omitempty"`
	MaxTPOT time.Duration `json:"max_tpot_ns,omitempty"`

	// Profile is the load profile file; Stages what it plans.
	Profile string  `json:"profile,omitempty"`
	Stages  []Stage `json:"stages,omitempty"`

	TargetQPS float64 `json:"target_qps,omitempty"`
	Headroom  float64 `json:"headroom"`
	// ServerMetrics is the target's Prometheus endpoint, scraped during
	// the run; ReplicaCost the price of a replica-hour, for the cost of
	// the safe load.
	ServerMetrics string  `json:"server_metrics,omitempty"`
	ReplicaCost   float64 `json:"replica_cost,omitempty"`
	Out           string  `json:"out"`
}

// Calibrate is how a run's prompts are sized in the server's tokens.
type Calibrate string

// CalibrateAuto asks answered requests' usage and, without it, the
// engine's tokenize endpoint; CalibrateUsage and CalibrateTokenize ask
// only one; CalibrateOff takes a piece for a token.
const (
	CalibrateAuto     Calibrate = "auto"
	CalibrateUsage    Calibrate = "usage"
	CalibrateTokenize Calibrate = "tokenize"
	CalibrateOff      Calibrate = "off"
)

// Streams reports whether the run's requests stream tokens or events.
func (s *Spec) Streams() bool { return (s.API.LLM() && !s.NoStream) || s.API == APISSE }

// Check validates a spec and fills what depends on its mode: the data
// order and the concurrency. Its errors name the flag at fault.
func (s *Spec) Check() error {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", s.URL)
	}
	if !s.Mode.valid() {
		return fmt.Errorf("unknown --mode %q (want auto, scan, manual, rate, concurrency or throughput, or --profile FILE)", s.Mode)
	}
	if s.Mode == ModeProfile && len(s.Stages) == 0 {
		return fmt.Errorf("--mode profile needs --profile FILE")
	}
	if s.FaultAction != FaultRevise && s.FaultAction != FaultStop {
		return fmt.Errorf("unknown --fault-action %q (want revise or stop)", s.FaultAction)
	}
	switch s.API {
	case APIHTTP, APIOpenAIChat, APIOpenAICompletions, APISSE:
	default:
		return fmt.Errorf("unknown --api %q (want http, openai-chat, openai-completions or sse)", s.API)
	}
	if !s.API.LLM() && (s.Model != "" || s.MaxTokens != 0 || s.IgnoreEOS || s.NoStream || s.Tokenizer != "" || (s.Calibrate != "" && s.Calibrate != CalibrateAuto)) {
		return fmt.Errorf("--model, --max-tokens, --ignore-eos, --stream, --calibrate and --tokenizer need --api openai-chat or openai-completions")
	}
	switch s.Calibrate {
	case "", CalibrateAuto, CalibrateUsage, CalibrateTokenize, CalibrateOff:
	default:
		return fmt.Errorf("unknown --calibrate %q (want auto, usage, tokenize or off)", s.Calibrate)
	}
	if s.ServerMetrics != "" {
		if u, err := url.Parse(s.ServerMetrics); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--server-metrics %q is not an http:// or https:// URL", s.ServerMetrics)
		}
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
		s.DataOrder = OrderRoundRobin
	}
	if s.DataOrder != OrderRoundRobin && s.DataOrder != OrderRandom {
		return fmt.Errorf("unknown --data-order %q (want round-robin or random)", s.DataOrder)
	}
	switch s.Arrival {
	case ArrivalConstant, ArrivalPoisson, ArrivalGamma:
	default:
		return fmt.Errorf("unknown --arrival %q (want constant, poisson or gamma)", s.Arrival)
	}
	// Durations and rates that must be positive, then those that must
	// not be negative.
	for _, p := range []struct {
		name     string
		v        float64
		positive bool
	}{
		{"--min-qps", s.MinQPS, true}, {"--max-qps", s.MaxQPS, true},
		{"--adjust-interval", s.AdjustInterval.Seconds(), true}, {"--step-duration", s.StepDuration.Seconds(), true},
		{"--duration", s.Duration.Seconds(), true}, {"--timeout", s.Timeout.Seconds(), true},
		{"--qps-growth-delta", s.QPSGrowthDelta, false}, {"--warmup", s.Warmup.Seconds(), false},
		{"--max-rt", s.MaxRT.Seconds(), false}, {"--rate", s.Rate, false}, {"--concurrency", float64(s.Concurrency), false},
		{"--requests", float64(s.Requests), false}, {"--max-tokens", float64(s.MaxTokens), false},
		{"--replica-cost", s.ReplicaCost, false},
		{"--max-ttft", s.MaxTTFT.Seconds(), false}, {"--max-tpot", s.MaxTPOT.Seconds(), false},
		{"--target-qps", s.TargetQPS, false}, {"--fail-below", s.FailBelow, false}, {"--max-body", float64(s.MaxBody), false},
		{"--hold", s.Hold.Seconds(), false},
	} {
		switch {
		case p.positive && (!(p.v > 0) || math.IsInf(p.v, 0)):
			return fmt.Errorf("%s must be positive", p.name)
		case !p.positive && (p.v < 0 || math.IsNaN(p.v)):
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
	case !(s.Confidence >= 0 && s.Confidence < 1):
		return fmt.Errorf("--confidence must be in (0,1), e.g. 0.95")
	case !(s.Headroom >= 0 && s.Headroom < 1):
		return fmt.Errorf("--headroom must be in [0,1), e.g. 0.3")
	case !(s.Precision > 0 && s.Precision < 1):
		return fmt.Errorf("--precision must be in (0,1), e.g. 0.02")
	case s.Arrival == ArrivalGamma && !(s.Burstiness >= 0.1 && s.Burstiness <= 200):
		return fmt.Errorf("--burstiness must be in [0.1,200]")
	case s.Mode == ModeRate && s.Rate <= 0:
		return fmt.Errorf("--mode rate needs --rate, e.g. --rate 50")
	case s.Mode == ModeScan && s.QPSGrowthDelta <= 0:
		return fmt.Errorf("--mode scan needs a positive --qps-growth-delta")
	case s.Hold > 0 && s.Mode != ModeAuto:
		return fmt.Errorf("--hold holds auto's answer; it needs --mode auto")
	}
	for i := range s.Stages {
		if err := s.Stages[i].Check(); err != nil {
			return fmt.Errorf("--profile: stage %d (%s): %v", i+1, s.Stages[i].Name, err)
		}
	}
	if s.Concurrency == 0 {
		s.Concurrency = s.Mode.DefaultConcurrency()
	}
	return nil
}

// Stage is one stage of a load profile: a constant rate, a linear ramp
// from one rate to another, or a staircase of Steps equal steps between
// them.
type Stage struct {
	Name     string  `json:"name,omitempty"`
	Duration Seconds `json:"duration"`
	Rate     float64 `json:"rate,omitempty"`
	From     float64 `json:"from,omitempty"`
	To       float64 `json:"to,omitempty"`
	Steps    int     `json:"steps,omitempty"`
}

// MinStage is the shortest stage, or step of a staircase, a profile may
// plan: shorter ones are over before a request's answer says anything.
const MinStage = 100 * time.Millisecond

// Check reports what makes a stage impossible to run.
func (st *Stage) Check() error {
	ramp := st.From != 0 || st.To != 0
	bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) || x < 0 }
	d := time.Duration(st.Duration)
	switch {
	case d <= 0:
		return errors.New("needs a positive duration")
	case d < MinStage:
		return fmt.Errorf("lasts %v, under the %v a stage or a step of its staircase needs", d, MinStage)
	case bad(st.Rate) || bad(st.From) || bad(st.To):
		return errors.New("rates must be finite and not negative")
	case ramp && st.Rate != 0:
		return errors.New(`give "rate" for a constant stage or "from" and "to" for a ramp, not both`)
	case !ramp && st.Rate == 0:
		return errors.New(`needs "rate", or "from" and "to"`)
	case ramp && st.To == 0:
		return errors.New(`a ramp must end above 0/s ("to")`)
	case st.Steps < 0 || (st.Steps > 0 && !ramp):
		return errors.New(`"steps" makes a staircase from "from" to "to" and must be positive`)
	case st.Steps > 0 && st.From == 0:
		return errors.New(`a staircase must start above 0/s ("from")`)
	case st.Steps > 0 && d/time.Duration(st.Steps) < MinStage:
		return fmt.Errorf("%d steps in %v last under the %v a step needs", st.Steps, d, MinStage)
	}
	return nil
}

// Seconds is a duration written in JSON as "90s", "2m" or a number of
// seconds.
type Seconds time.Duration

// UnmarshalJSON reads "90s", "2m" or a number of seconds.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case float64:
		*s = Seconds(v * float64(time.Second))
		return nil
	case string:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("duration %q: want e.g. \"90s\", \"2m\" or a number of seconds", v)
		}
		*s = Seconds(d)
		return nil
	}
	return fmt.Errorf("duration %s: want e.g. \"90s\", \"2m\" or a number of seconds", b)
}

// MarshalJSON writes the duration as Go writes it ("1m30s").
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(s).String())), nil
}

// Redacted is the spec as capfinder writes and prints it: a header's
// value only when its name is on a short list of headers that carry no
// credential (a value taken from ${VAR} stays written as ${VAR}); the
// target URL without its password or the values of query keys off a
// short list; the data-file URLs without any query value (a presigned
// URL's are its credentials).
func (s Spec) Redacted() Spec {
	s.URL = RedactURL(s.URL)
	s.ServerMetrics = RedactURL(s.ServerMetrics)
	if s.Header != nil {
		h := make(map[string][]string, len(s.Header))
		for k, vs := range s.Header {
			for _, v := range vs {
				if !harmlessHeaders[strings.ToLower(k)] {
					v = RedactedValue
				}
				h[k] = append(h[k], v)
			}
		}
		s.Header = h
	}
	if s.DataFile != "" {
		files := strings.Split(s.DataFile, ",")
		for i, f := range files {
			files[i] = redactURL(f, nil)
		}
		s.DataFile = strings.Join(files, ",")
	}
	return s
}

// RedactedValue is what Redacted writes in place of a value it hides.
const RedactedValue = "REDACTED"

// HoldsRedacted reports whether v, written by Redacted, hides something:
// a value replaced by RedactedValue, or a URL's password, which net/url
// writes as xxxxx.
func HoldsRedacted(v string) bool {
	return strings.Contains(v, RedactedValue) || strings.Contains(v, ":xxxxx@")
}

// harmlessHeaders are the headers whose values capfinder writes.
var harmlessHeaders = map[string]bool{
	"accept": true, "accept-encoding": true, "accept-language": true, "cache-control": true,
	"connection": true, "content-encoding": true, "content-type": true, "user-agent": true,
}

// harmlessQuery are the query keys of a target URL whose values capfinder
// writes; an API's version and model say what was measured.
var harmlessQuery = map[string]bool{
	"api-version": true, "api_version": true, "version": true, "model": true, "format": true, "stream": true,
}

// RedactURL is a target URL as capfinder writes and prints it: without a
// password, and with the values of its query keys replaced unless they
// are on a short list (api-version, model, …).
func RedactURL(u string) string {
	return redactURL(u, func(k string) bool { return harmlessQuery[strings.ToLower(k)] })
}

// redactURL replaces the password of u and the values of the query keys
// keep does not keep (all, when keep is nil). What is not a URL is left
// as it is.
func redactURL(u string, keep func(key string) bool) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return u
	}
	if p.RawQuery != "" {
		q := p.Query()
		for k := range q {
			if keep == nil || !keep(k) {
				q[k] = []string{RedactedValue}
			}
		}
		p.RawQuery = q.Encode()
	}
	return p.Redacted()
}
