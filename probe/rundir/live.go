package rundir

import (
	"fmt"
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
	// Hists are the second's latency, TTFT and TPOT histograms, kept by
	// a Live that keeps them (an agent's, whose seconds a coordinator
	// merges); nil otherwise.
	Hists []*hdrhistogram.Histogram `json:"-"`
}

// Live gathers the records that end in the current second; Cut hands the
// second over and starts the next. One goroutine owns it.
type Live struct {
	// Keep hands each second over with its histograms (Second.Hists).
	Keep            bool
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
	s.quantiles(l.lat, l.ttft, l.tpot)
	l.s = Second{}
	if l.Keep {
		s.Hists = []*hdrhistogram.Histogram{l.lat, l.ttft, l.tpot}
		l.lat, l.ttft, l.tpot = NewHistogram(), NewHistogram(), NewHistogram()
		return s
	}
	l.lat.Reset()
	l.ttft.Reset()
	l.tpot.Reset()
	return s
}

// quantiles sets the second's latency, TTFT and TPOT figures from their
// histograms.
func (s *Second) quantiles(lat, ttft, tpot *hdrhistogram.Histogram) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if lat.TotalCount() > 0 {
		s.P50Ms, s.P90Ms, s.P99Ms = ms(Quantile(lat, 0.5)), ms(Quantile(lat, 0.9)), ms(Quantile(lat, 0.99))
		s.MaxMs, s.MeanMs = ms(Max(lat)), ms(Mean(lat))
	}
	if ttft.TotalCount() > 0 {
		s.TTFTP50Ms, s.TTFTP99Ms = ms(Quantile(ttft, 0.5)), ms(Quantile(ttft, 0.99))
	}
	if tpot.TotalCount() > 0 {
		s.TPOTP50Ms, s.TPOTP99Ms = ms(Quantile(tpot, 0.5)), ms(Quantile(tpot, 0.99))
	}
}

// MergeSeconds merges the same second of several generators, each with
// its histograms: counts added, quantiles from the merged histograms. A
// histogram value the merge cannot hold is an error.
func MergeSeconds(ss []Second) (Second, error) {
	out := Second{T: ss[0].T, Status: map[string]int64{}, Errors: map[string]int64{}}
	hs := []*hdrhistogram.Histogram{NewHistogram(), NewHistogram(), NewHistogram()}
	var dropped int64
	for _, s := range ss {
		out.Sent, out.Done, out.Failed, out.InFlight = out.Sent+s.Sent, out.Done+s.Done, out.Failed+s.Failed, out.InFlight+s.InFlight
		out.BytesIn, out.BytesOut, out.OutputTokens = out.BytesIn+s.BytesIn, out.BytesOut+s.BytesOut, out.OutputTokens+s.OutputTokens
		for k, v := range s.Status {
			out.Status[k] += v
		}
		for k, v := range s.Errors {
			out.Errors[k] += v
		}
		if len(s.Hists) != len(hs) {
			return Second{}, fmt.Errorf("rundir: second %g of a generator without its histograms", s.T)
		}
		for i, h := range s.Hists {
			dropped += hs[i].Merge(h)
		}
	}
	if dropped > 0 {
		return Second{}, fmt.Errorf("rundir: merging second %g dropped %d histogram values", out.T, dropped)
	}
	out.quantiles(hs[0], hs[1], hs[2])
	return out, nil
}
