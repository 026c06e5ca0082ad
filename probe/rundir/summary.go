package rundir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"sync/atomic"
)

// Summary is summary.json: the answer, machine-readable. The keys DESIGN.md
// lists are a contract; others may be added.
type Summary struct {
	Status         string         `json:"status"`
	Mode           string         `json:"mode"`
	Requests       Requests       `json:"requests"`
	Limits         Limits         `json:"limits"`
	Capacity       Capacity       `json:"capacity"`
	Knee           Point          `json:"knee"`
	Saturation     Saturation     `json:"saturation"`
	Recommendation Recommendation `json:"recommendation"`
	Steps          []SummaryStep  `json:"steps"`
	Warnings       []string       `json:"warnings"`
	// Fit is the latency curve fitted over the steady steps, when they
	// allow one.
	Fit *FitSummary `json:"fit,omitempty"`
	// Tokens is the capacity in tokens, for runs that streamed tokens.
	Tokens *Tokens `json:"tokens,omitempty"`
	// Prompts compares the prompt lengths asked with those the server
	// counted, for runs of sized prompts.
	Prompts *Prompts `json:"prompts,omitempty"`
	// Conversations states a multi-turn run's capacity in requests too:
	// capacity.qps counts conversations started.
	Conversations *Conversations `json:"conversations,omitempty"`
	// Server says what the target's own metrics tell of the limit, for a
	// run that scraped them; Cost prices the safe load (--replica-cost).
	Server *Server `json:"server,omitempty"`
	Cost   *Cost   `json:"cost,omitempty"`
	// Frontier is the capacity at a ladder of limits (the SLO frontier),
	// for a run of open-loop steps.
	Frontier []FrontierPoint `json:"frontier,omitempty"`
}

// FrontierPoint is the capacity under one limit of the SLO frontier: the
// run's Quantile of Metric ("latency" or "ttft") at most LimitMs, its other
// limits kept. CapacityQPS and HighQPS are the steps judged again with it
// (the highest load that held it, and the lowest that broke it, 0 when
// none did); FittedQPS is where the curve fitted to that quantile meets
// the limit, with its bootstrap interval, Extrapolated when outside the
// loads the run measured.
type FrontierPoint struct {
	Metric       string    `json:"metric"`
	Quantile     float64   `json:"quantile"`
	LimitMs      float64   `json:"limit_ms"`
	CapacityQPS  float64   `json:"capacity_qps"`
	HighQPS      float64   `json:"high_qps"`
	LimitedBy    string    `json:"limited_by"`
	FittedQPS    float64   `json:"fitted_qps,omitempty"`
	FittedCI     []float64 `json:"fitted_ci,omitempty"`
	Extrapolated bool      `json:"extrapolated,omitempty"`
}

// Server is what the target's metrics (--server-metrics) tell: how many
// series were kept, and what the server ran out of at the limit, by which
// rule (kv-cache, batch, waiting, compute, unknown, none).
type Server struct {
	URL         string `json:"url"`
	Series      int    `json:"series"`
	Scrapes     int    `json:"scrapes"`
	Explanation string `json:"explanation"`
	Rule        string `json:"rule"`
}

// Cost is the price of the safe load per replica (the recommendation's
// per_replica_qps) for a replica costing ReplicaHour an hour.
type Cost struct {
	ReplicaHour            float64 `json:"replica_hour"`
	AtQPS                  float64 `json:"at_qps"`
	PerThousandRequests    float64 `json:"per_thousand_requests"`
	PerMillionOutputTokens float64 `json:"per_million_output_tokens,omitempty"`
}

// Prompts is how long the prompts were, as asked and as the server
// counted them (usage.prompt_tokens), over the requests that have both;
// Error is the relative error of the mean, (reported − asked) / asked.
// Later turns of conversations, whose history the server answered, are
// not compared.
type Prompts struct {
	Calibration  *Calibration `json:"calibration,omitempty"`
	Requests     int64        `json:"requests"`
	AskedMean    float64      `json:"asked_mean"`
	ReportedMean float64      `json:"reported_mean"`
	Error        float64      `json:"error"`
	// CachedShare is the share of the prompt tokens the server's prefix
	// cache held, when it said (usage.prompt_tokens_details).
	CachedShare float64 `json:"cached_share,omitempty"`
}

// Conversations is a multi-turn run: conversations and their requests.
type Conversations struct {
	Started int64 `json:"started"`
	// TurnsMean is the requests per conversation started.
	TurnsMean float64 `json:"turns_mean"`
	// CapacityRequestsQPS is the request rate the capacity's step
	// achieved, while it started capacity.qps conversations a second.
	CapacityRequestsQPS float64 `json:"capacity_requests_qps"`
}

// Tokens is an LLM run's capacity in tokens per second: the output (and
// prompt) tokens per second of the best passing step at the capacity
// load, with the mean tokens of a request over the run and how the output
// tokens were known.
type Tokens struct {
	OutputPerS       float64 `json:"output_per_s"`
	PromptPerS       float64 `json:"prompt_per_s"`
	MeanPrompt       float64 `json:"mean_prompt"`
	MeanOutput       float64 `json:"mean_output"`
	CountedFromChunk int64   `json:"counted_from_chunks"`
	UsageMismatch    int64   `json:"usage_mismatch"`
}

// FitSummary is the fitted degradation curve: the latency curve and where
// it meets the limit, the USL on throughput versus concurrency, and which
// of the two fits the run better (Chosen, by RMS error in logs).
type FitSummary struct {
	Chosen string      `json:"chosen"`
	USL    *USLSummary `json:"usl,omitempty"`
	Model  string      `json:"model,omitempty"`
	Method string      `json:"method,omitempty"`
	SMs    float64     `json:"s_ms,omitempty"`
	A      float64     `json:"a,omitempty"`
	MuQPS  float64     `json:"mu_qps,omitempty"`
	RMSLE  float64     `json:"rmsle,omitempty"`
	Points int         `json:"points,omitempty"`
	// CapacityQPS is where the fitted curve reaches max-rt; CapacityCI its
	// bootstrap interval at Level.
	CapacityQPS float64   `json:"capacity_qps,omitempty"`
	CapacityCI  []float64 `json:"capacity_ci,omitempty"`
	Level       float64   `json:"level,omitempty"`
}

// Requests counts the run's requests: sent equals the rows recorded when
// the run ended cleanly, and ok + failed + canceled. Canceled requests
// were still in flight when the run ended and were cut by capfinder, not
// failed by the target.
//
// Duplicates and Gaps check the load's rows (steps after 0) by their
// arrival numbers (Record.Seq): Duplicates counts the rows of an arrival
// and turn recorded before (the parts of an agent gathered twice, or two
// agents of one index), Gaps the numbers from 1 to the largest recorded
// that no first turn holds (arrivals the generator dropped, behind its
// schedule or with every slot taken, or rows of a part not read).
type Requests struct {
	Sent       int64 `json:"sent"`
	Recorded   int64 `json:"recorded"`
	OK         int64 `json:"ok"`
	Failed     int64 `json:"failed"`
	Canceled   int64 `json:"canceled"`
	Duplicates int64 `json:"duplicates,omitempty"`
	Gaps       int64 `json:"gaps,omitempty"`
}

// Limits are the service levels the run was judged against.
type Limits struct {
	MaxRTMs       float64 `json:"max_rt_ms"`
	RTQuantile    float64 `json:"rt_quantile"`
	FaultTolerate float64 `json:"fault_tolerate"`
	FaultAction   string  `json:"fault_action"`
	MaxTTFTMs     float64 `json:"max_ttft_ms"`
	MaxTPOTMs     float64 `json:"max_tpot_ms"`
	MaxQPS        float64 `json:"max_qps"`
	// Confidence is how sure a step's verdict had to be to count as
	// conclusive.
	Confidence float64 `json:"confidence"`
}

// Capacity is the highest offered rate that held every limit for a whole
// step; Low and High bracket the true limit.
type Capacity struct {
	QPS       float64 `json:"qps"`
	Low       float64 `json:"low"`
	High      float64 `json:"high"`
	LimitedBy string  `json:"limited_by"`
}

// Point is a load on the curve; zero when not found.
type Point struct {
	QPS    float64 `json:"qps"`
	Method string  `json:"method,omitempty"`
}

// Saturation is where the target stopped keeping up: QPS is the
// throughput it sustained at its plateau (successful answers per second of
// the steps past the onset), Low and High its 95 % interval, and OnsetQPS
// the lowest offered load at which it stopped keeping up with its offer or
// failed 5 % of requests. All zero when no step saturated.
type Saturation struct {
	QPS      float64 `json:"qps"`
	Low      float64 `json:"low"`
	High     float64 `json:"high"`
	OnsetQPS float64 `json:"onset_qps"`
}

// Recommendation sizes a deployment from the capacity.
type Recommendation struct {
	PerReplicaQPS float64 `json:"per_replica_qps"`
	Headroom      float64 `json:"headroom"`
	TargetQPS     float64 `json:"target_qps"`
	Replicas      int     `json:"replicas"`
	// Arithmetic shows how Replicas follows from the numbers.
	Arithmetic string `json:"arithmetic,omitempty"`
}

// USLSummary is the Universal Scalability Law fitted to achieved
// throughput against mean concurrency (Little's law).
type USLSummary struct {
	Lambda float64 `json:"lambda"`
	Sigma  float64 `json:"sigma"`
	Kappa  float64 `json:"kappa"`
	RMSLE  float64 `json:"rmsle"`
	Points int     `json:"points"`
	// PeakConcurrency and PeakQPS are where throughput peaks; absent when
	// it only levels off (κ = 0).
	PeakConcurrency float64 `json:"peak_concurrency,omitempty"`
	PeakQPS         float64 `json:"peak_qps,omitempty"`
}

// SummaryStep is one step as summary.json shows it.
type SummaryStep struct {
	Step  int    `json:"step"`
	Phase string `json:"phase"`
	// AskedBy is who set the step's load while the run went on ("page"
	// or "command"); absent when the controller chose it.
	AskedBy     string  `json:"asked_by,omitempty"`
	OfferedQPS  float64 `json:"offered_qps"`
	Concurrency int     `json:"concurrency"`
	AchievedQPS float64 `json:"achieved_qps"`
	StartS      float64 `json:"start_s"`
	EndS        float64 `json:"end_s"`
	// JudgedStartS and JudgedEndS bound the scheduled times judged.
	JudgedStartS float64 `json:"judged_start_s"`
	JudgedEndS   float64 `json:"judged_end_s"`
	Saturated    bool    `json:"saturated"`
	// ScheduleLagMs is how far behind its open-loop schedule the generator
	// was at the step's end; over 3 % of the step makes it invalid.
	ScheduleLagMs float64 `json:"schedule_lag_ms"`
	Sent          int64   `json:"sent"`
	Samples       int64   `json:"samples"`
	Failures      int64   `json:"failures"`
	P50Ms         float64 `json:"p50_ms"`
	P90Ms         float64 `json:"p90_ms"`
	P99Ms         float64 `json:"p99_ms"`
	P999Ms        float64 `json:"p999_ms"`
	MaxMs         float64 `json:"max_ms"`
	MeanMs        float64 `json:"mean_ms"`
	ErrorRate     float64 `json:"error_rate"`
	// Errors counts the judged failures by class ("timeout", "refused",
	// "status 503", …).
	Errors     map[string]int64 `json:"errors,omitempty"`
	SendLagP50 float64          `json:"send_lag_p50_ms"`
	SendLagP99 float64          `json:"send_lag_p99_ms"`
	// Streams: time to first token (or event), time per output token and
	// the largest gap between tokens, per request, at p50 and p99; tokens
	// of the requests that ended in the step; goodput, the judged requests
	// per second that met every limit; events and new connections.
	TTFTP50Ms      float64 `json:"ttft_p50_ms,omitempty"`
	TTFTP99Ms      float64 `json:"ttft_p99_ms,omitempty"`
	TPOTP50Ms      float64 `json:"tpot_p50_ms,omitempty"`
	TPOTP99Ms      float64 `json:"tpot_p99_ms,omitempty"`
	ITLMaxP99Ms    float64 `json:"itl_max_p99_ms,omitempty"`
	PromptTokens   int64   `json:"prompt_tokens,omitempty"`
	OutputTokens   int64   `json:"output_tokens,omitempty"`
	OutputTokensPS float64 `json:"output_tokens_per_s,omitempty"`
	GoodputQPS     float64 `json:"goodput_qps"`
	Events         int64   `json:"events,omitempty"`
	EventsPS       float64 `json:"events_per_s,omitempty"`
	NewConnsPS     float64 `json:"new_conns_per_s"`
	// InFlight is the mean number of judged requests in flight (Little's
	// law); bytes are over the step's requests that had ended by its end.
	InFlight float64 `json:"in_flight,omitempty"`
	BytesOut int64   `json:"bytes_out,omitempty"`
	BytesIn  int64   `json:"bytes_in,omitempty"`
	// Server is the target's own metrics over the step, by series
	// (--server-metrics); counters as rates per second.
	Server map[string]ServerStat `json:"server,omitempty"`
	// RateEndQPS is the rate a ramp step ended at (OfferedQPS is then its
	// mean). InFlightStart and InFlightEnd are the requests in flight as
	// the judged part began and at the step's end: a target that keeps up
	// holds them steady.
	RateEndQPS    float64 `json:"rate_end_qps,omitempty"`
	InFlightStart int64   `json:"in_flight_start"`
	InFlightEnd   int64   `json:"in_flight_end"`
	// GenCPUMs is the CPU time capfinder used during the step, GenCPUShare
	// the same in cores (1 is a whole core), Goroutines its goroutines at
	// the step's end.
	GenCPUMs    float64 `json:"gen_cpu_ms"`
	GenCPUShare float64 `json:"gen_cpu_cores"`
	Goroutines  int     `json:"goroutines"`
	Verdict     string  `json:"verdict"`
	// Conclusive is set when the step's evidence decided its verdict at
	// the run's confidence (see the README's "How a step is judged").
	Conclusive bool   `json:"conclusive"`
	LimitedBy  string `json:"limited_by,omitempty"`
}

// WriteJSON writes v as indented JSON, non-finite numbers as 0, to path through a temporary file, so
// a reader never sees half a file.
func WriteJSON(path string, v any) error {
	// JSON has no NaN or infinity: such a value is written as 0 rather
	// than losing the file.
	b, err := json.MarshalIndent(finite(reflect.ValueOf(v)).Interface(), "", "  ")
	if err != nil {
		return fmt.Errorf("rundir: %w", err)
	}
	return writeBytes(path, append(b, '\n'))
}

// WriteFileAtomic writes to path what write writes, with the mode the
// run's parts get (0644 under the usual umask), through a temporary file
// in the same directory that is synced and renamed into place: a reader
// never sees half a file, and a crash never leaves an empty one.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	tmp := fmt.Sprintf("%s.tmp-%d-%d", path, os.Getpid(), tmpSeq.Add(1))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return fmt.Errorf("rundir: %w", err)
	}
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rundir: writing %s: %w", path, err)
	}
	return nil
}

// tmpSeq tells apart the temporary files of one process.
var tmpSeq atomic.Int64

// ReadJSON decodes the JSON file at path into v; a decoding error says
// where in the file it lies.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("rundir: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("rundir: %s: %s", path, JSONError(b, err, ""))
	}
	return nil
}

// JSONError is a decoding error of data with where in data it lies, as
// "line L, column C: …"; want, when given, replaces what a value of the
// wrong type is said to be. An error from elsewhere is said as it is.
func JSONError(data []byte, err error, want string) string {
	var off int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
		if want != "" {
			err = errors.New(want)
		}
	}
	if off < 0 {
		return err.Error()
	}
	before := data[:min(int(off), len(data))]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
}

// finite returns a copy of v in which every NaN or infinite float is 0.
func finite(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return reflect.Zero(v.Type())
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			c := reflect.New(v.Elem().Type())
			c.Elem().Set(finite(v.Elem()))
			if v.Kind() == reflect.Pointer {
				return c
			}
			return c.Elem()
		}
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		for i := range v.NumField() {
			if c.Field(i).CanSet() {
				c.Field(i).Set(finite(v.Field(i)))
			}
		}
		return c
	case reflect.Slice:
		if !v.IsNil() {
			c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			for i := range v.Len() {
				c.Index(i).Set(finite(v.Index(i)))
			}
			return c
		}
	case reflect.Map:
		if !v.IsNil() {
			c := reflect.MakeMapWithSize(v.Type(), v.Len())
			for it := v.MapRange(); it.Next(); {
				c.SetMapIndex(it.Key(), finite(it.Value()))
			}
			return c
		}
	}
	return v
}

// writeBytes writes b to path as WriteFileAtomic does.
func writeBytes(path string, b []byte) error {
	return WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
