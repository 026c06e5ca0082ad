package rundir

import "strconv"

// Record is one request as it was scheduled, sent and answered. Every
// request the engine dispatches becomes exactly one Record, whether it
// succeeded, failed, timed out or was cancelled; a failed request is data,
// never an error.
//
// Times are nanoseconds since the run's start (the engine's zero), never
// wall-clock values. The struct tags are the Parquet column contract of
// DESIGN.md; analysis reads the same struct back. Seq numbers the run's
// arrivals in schedule order, from 1.
type Record struct {
	Step        int32   `parquet:"step"`
	OfferedQPS  float64 `parquet:"offered_qps"`
	ScheduledNs int64   `parquet:"scheduled_ns"`
	SentNs      int64   `parquet:"sent_ns"`
	FirstByteNs int64   `parquet:"first_byte_ns"`
	// FirstTokenNs is the first non-empty content token (streams); 0 otherwise.
	FirstTokenNs int64 `parquet:"first_token_ns"`
	EndNs        int64 `parquet:"end_ns"`
	// Status is the HTTP status, StatusTimeout for a timed-out request and 0
	// when no response arrived.
	Status int32 `parquet:"status"`
	// Error is a short class (see the Err* constants); empty when fine.
	Error        string `parquet:"error,dict"`
	BytesOut     int64  `parquet:"bytes_out"`
	BytesIn      int64  `parquet:"bytes_in"`
	PromptTokens int32  `parquet:"prompt_tokens"`
	OutputTokens int32  `parquet:"output_tokens"`
	Events       int32  `parquet:"events"`
	ITLMaxNs     int64  `parquet:"itl_max_ns"`
	// LastTokenNs is when the last content token (or event) arrived;
	// Chunks counts the content chunks (or events with data) of a stream.
	// TokenSource says where OutputTokens came from: "usage" (the
	// server's usage report), "chunks" (counted, the server sent none)
	// or "text" (estimated from a non-streamed answer's length).
	LastTokenNs int64  `parquet:"last_token_ns"`
	Chunks      int32  `parquet:"chunks"`
	TokenSource string `parquet:"token_source,dict"`
	// NewConn is set when the request opened a new connection.
	NewConn bool  `parquet:"new_conn"`
	Payload int64 `parquet:"payload"`
	Agent   int32 `parquet:"agent"`
	Seq     int64 `parquet:"seq"`
	// PromptAsked is the prompt's length in the server's tokens as the
	// dataset sized it (0 when unknown), to compare with PromptTokens;
	// CachedTokens the prompt tokens the server said its prefix cache
	// held (usage.prompt_tokens_details.cached_tokens).
	PromptAsked  int32 `parquet:"prompt_asked"`
	CachedTokens int32 `parquet:"cached_tokens"`
	// Conversation numbers a multi-turn conversation from 1 (0 for a
	// single request) and Turn counts its turns from 0.
	Conversation int64 `parquet:"conversation"`
	Turn         int32 `parquet:"turn"`
}

// StatusTimeout is recorded for a request that hit the client timeout, as
// the EAS stress test reports it.
const StatusTimeout = 512

// Error classes recorded in Record.Error.
const (
	ErrTimeout   = "timeout"   // client timeout elapsed
	ErrRefused   = "refused"   // connection refused
	ErrReset     = "reset"     // connection reset or closed mid-exchange
	ErrTLS       = "tls"       // TLS handshake or certificate failure
	ErrDNS       = "dns"       // name resolution failed
	ErrProtocol  = "protocol"  // malformed HTTP or stream
	ErrStatus    = "status"    // a non-2xx status arrived
	ErrCanceled  = "canceled"  // the run was stopped while the request was in flight
	ErrNetwork   = "network"   // any other transport failure
	ErrMidStream = "midstream" // an error object arrived inside a stream
	ErrTooLarge  = "too_large" // the answer was larger than the body limit
	ErrLocal     = "local"     // the generator ran out of a local resource (descriptors, ports)
)

// Latency is what a user waiting on the schedule saw: end minus scheduled,
// free of coordinated omission.
func (r *Record) Latency() int64 { return r.EndNs - r.ScheduledNs }

// FailureClass is how a failed request is counted in windows and
// analyses: its error class, with the status code for a non-2xx answer
// ("status 503").
func (r *Record) FailureClass() string {
	if r.Error == "" || r.Error == ErrStatus {
		return ErrStatus + " " + strconv.Itoa(int(r.Status))
	}
	return r.Error
}

// TTFT is the time to the first token or event, from the schedule; 0
// when none came.
func (r *Record) TTFT() int64 {
	if r.FirstTokenNs <= 0 {
		return 0
	}
	return r.FirstTokenNs - r.ScheduledNs
}

// TPOT is the time per output token after the first; 0 for an answer of
// fewer than two tokens.
func (r *Record) TPOT() int64 {
	if r.FirstTokenNs <= 0 || r.OutputTokens <= 1 {
		return 0
	}
	return (r.EndNs - r.FirstTokenNs) / int64(r.OutputTokens-1)
}

// SendLag is how late the request left compared with its schedule.
func (r *Record) SendLag() int64 { return r.SentNs - r.ScheduledNs }

// OK reports whether the request counts as a success: a 2xx status and no
// error class.
func (r *Record) OK() bool { return r.Error == "" && r.Status >= 200 && r.Status < 300 }

// ServerRow is one row of server.parquet: a series of the target's own
// metrics (--server-metrics) at one scrape. Series is its name and labels
// in Prometheus text form; Kind "gauge", "counter" or "untyped".
type ServerRow struct {
	TimeNs int64   `parquet:"time_ns"`
	Series string  `parquet:"series,dict"`
	Kind   string  `parquet:"kind,dict"`
	Value  float64 `parquet:"value"`
}

// ServerStat is a server series over a step: the mean and the largest of
// a gauge's values, or of a counter's rate per second between scrapes.
type ServerStat struct {
	Kind string  `json:"kind"`
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
}

// PhaseCalibrate is the phase of the step of calibration requests, step
// 0, before the load: its requests are recorded and counted, never
// judged.
const PhaseCalibrate = "calibrate"

// StepRow is one row of steps.parquet: a controller step as the run saw
// it (StepStats.Row). Times are nanoseconds since the run's start; latencies milliseconds.
type StepRow struct {
	Step  int32  `parquet:"step"`
	Phase string `parquet:"phase,dict"`
	// AskedBy is who set the step's load while the run went on ("page"
	// or "command"); empty when the controller chose it.
	AskedBy     string  `parquet:"asked_by,dict"`
	OfferedQPS  float64 `parquet:"offered_qps"`
	Concurrency int32   `parquet:"concurrency"`
	StartNs     int64   `parquet:"start_ns"`
	EndNs       int64   `parquet:"end_ns"`
	// JudgedStartNs and JudgedEndNs bound the scheduled times the step
	// was judged on (after its warm-up, before its tail).
	JudgedStartNs int64 `parquet:"judged_start_ns"`
	JudgedEndNs   int64 `parquet:"judged_end_ns"`
	// JudgedMidNs splits the judged stretch into the halves whose
	// latencies are compared for steadiness.
	JudgedMidNs int64 `parquet:"judged_mid_ns"`
	// Saturated is set when the target held every in-flight slot.
	Saturated bool `parquet:"saturated"`
	// ScheduleLagNs is how far behind its open-loop schedule the
	// generator was at the step's end.
	ScheduleLagNs int64   `parquet:"schedule_lag_ns"`
	Sent          int64   `parquet:"sent"`
	Samples       int64   `parquet:"samples"`
	Failures      int64   `parquet:"failures"`
	AchievedQPS   float64 `parquet:"achieved_qps"`
	P50Ms         float64 `parquet:"p50_ms"`
	P90Ms         float64 `parquet:"p90_ms"`
	P99Ms         float64 `parquet:"p99_ms"`
	P999Ms        float64 `parquet:"p999_ms"`
	MaxMs         float64 `parquet:"max_ms"`
	MeanMs        float64 `parquet:"mean_ms"`
	ErrorRate     float64 `parquet:"error_rate"`
	SendLagP99Ms  float64 `parquet:"send_lag_p99_ms"`
	Verdict       string  `parquet:"verdict,dict"`
	LimitedBy     string  `parquet:"limited_by,dict"`
	// Conclusive is set when the step's evidence decided its verdict at
	// the run's confidence; otherwise it was judged on what it measured,
	// or (auto) it only said "higher".
	Conclusive bool `parquet:"conclusive"`
	// RateEndQPS is the rate a ramp step ended at (offered_qps is then
	// its mean); zero for a step at one rate.
	RateEndQPS float64 `parquet:"rate_end_qps"`
	// InFlightStart and InFlightEnd are the requests in flight as the
	// judged part began and at the step's end.
	InFlightStart int64 `parquet:"in_flight_start"`
	InFlightEnd   int64 `parquet:"in_flight_end"`
	// GenCPUNs is the CPU time capfinder used during the step; Goroutines
	// its goroutines at the step's end.
	GenCPUNs   int64 `parquet:"gen_cpu_ns"`
	Goroutines int32 `parquet:"goroutines"`
}
