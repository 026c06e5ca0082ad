package rundir

import (
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Second is one second of a run as it went, for those who watch it live
// (the dashboard, /metrics, the status line): the requests that ended in
// it, by when they ended, and the sends of the second.
type Second struct {
	// T is the second's end, in seconds since the run's start.
	T float64 `json:"t"`
	// Step, Phase and OfferedQPS are the step running (0 for the pause
	// between steps), filled in by the runner.
	Step       int     `json:"step"`
	Phase      string  `json:"phase"`
	OfferedQPS float64 `json:"offered_qps"`
	Sent       int64   `json:"sent"`
	Done       int64   `json:"done"`
	Failed     int64   `json:"failed"`
	InFlight   int64   `json:"in_flight"`
	// Status counts the answers by HTTP status ("0" when none came);
	// Errors the failures by class.
	Status   map[string]int64 `json:"status"`
	Errors   map[string]int64 `json:"errors"`
	BytesIn  int64            `json:"bytes_in"`
	BytesOut int64            `json:"bytes_out"`
	// Latency of the requests that ended, in milliseconds.
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
	// For streams: time to first token and per output token, and the
	// output tokens of the answers that ended.
	TTFTP50Ms    float64 `json:"ttft_p50_ms,omitempty"`
	TTFTP99Ms    float64 `json:"ttft_p99_ms,omitempty"`
	TPOTP50Ms    float64 `json:"tpot_p50_ms,omitempty"`
	TPOTP99Ms    float64 `json:"tpot_p99_ms,omitempty"`
	OutputTokens int64   `json:"output_tokens,omitempty"`
}

// Live gathers the records that end in the current second; Cut hands the
// second over and starts the next. One goroutine owns it.
type Live struct {
	s               Second
	lat, ttft, tpot *hdrhistogram.Histogram
}

// NewLive returns an empty Live.
func NewLive() *Live {
	return &Live{lat: NewHistogram(), ttft: NewHistogram(), tpot: NewHistogram()}
}

// Add counts a record that ended.
func (l *Live) Add(r *Record) {
	s := &l.s
	if s.Status == nil {
		s.Status, s.Errors = map[string]int64{}, map[string]int64{}
	}
	s.Done++
	s.Status[strconv.Itoa(int(r.Status))]++
	if !r.OK() {
		s.Failed++
		s.Errors[r.FailureClass()]++
	}
	s.BytesIn += r.BytesIn
	s.BytesOut += r.BytesOut
	s.OutputTokens += int64(r.OutputTokens)
	RecordNs(l.lat, r.Latency())
	if t := r.TTFT(); t > 0 {
		RecordNs(l.ttft, t)
	}
	if t := r.TPOT(); t > 0 {
		RecordNs(l.tpot, t)
	}
}

// Cut returns the second that ends at ns, with the sends and requests in
// flight the engine counted, and starts the next.
func (l *Live) Cut(ns, sent, inFlight int64) Second {
	s := l.s
	s.T = time.Duration(ns).Seconds()
	s.Sent, s.InFlight = sent, inFlight
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if l.lat.TotalCount() > 0 {
		s.P50Ms, s.P90Ms, s.P99Ms = ms(Quantile(l.lat, 0.5)), ms(Quantile(l.lat, 0.9)), ms(Quantile(l.lat, 0.99))
		s.MaxMs, s.MeanMs = ms(Max(l.lat)), ms(Mean(l.lat))
	}
	if l.ttft.TotalCount() > 0 {
		s.TTFTP50Ms, s.TTFTP99Ms = ms(Quantile(l.ttft, 0.5)), ms(Quantile(l.ttft, 0.99))
	}
	if l.tpot.TotalCount() > 0 {
		s.TPOTP50Ms, s.TPOTP99Ms = ms(Quantile(l.tpot, 0.5)), ms(Quantile(l.tpot, 0.99))
	}
	l.s = Second{}
	l.lat.Reset()
	l.ttft.Reset()
	l.tpot.Reset()
	return s
}
