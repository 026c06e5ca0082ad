package dashboard

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// metrics serves the run's latest second and totals in Prometheus text
// format, every name prefixed capfinder_.
func (h *Hub) metrics(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	var last struct {
		ok                                            bool
		step                                          int
		phase                                         string
		offered, achieved, inFlight                   float64
		p50, p90, p99, ttft50, ttft99, tpot50, tpot99 float64
	}
	if n := len(h.seconds); n > 0 {
		s := h.seconds[(h.next+keepSeconds-1)%keepSeconds]
		if n < keepSeconds {
			s = h.seconds[n-1]
		}
		last.ok, last.step, last.phase = true, s.Step, s.Phase
		last.offered, last.achieved, last.inFlight = s.OfferedQPS, float64(s.Done), float64(s.InFlight)
		last.p50, last.p90, last.p99 = s.P50Ms/1e3, s.P90Ms/1e3, s.P99Ms/1e3
		last.ttft50, last.ttft99, last.tpot50, last.tpot99 = s.TTFTP50Ms/1e3, s.TTFTP99Ms/1e3, s.TPOTP50Ms/1e3, s.TPOTP99Ms/1e3
	}
	sent, done := h.sent, h.done
	classes := make([]string, 0, len(h.errors))
	for c := range h.errors {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	errs := make([]int64, len(classes))
	for i, c := range classes {
		errs[i] = h.errors[c]
	}
	h.mu.Unlock()

	var b strings.Builder
	metric := func(name, kind, help string) {
		fmt.Fprintf(&b, "# HELP capfinder_%s %s\n# TYPE capfinder_%s %s\n", name, help, name, kind)
	}
	metric("requests_sent_total", "counter", "Requests sent since the run began.")
	fmt.Fprintf(&b, "capfinder_requests_sent_total %d\n", sent)
	metric("requests_done_total", "counter", "Requests that ended since the run began.")
	fmt.Fprintf(&b, "capfinder_requests_done_total %d\n", done)
	metric("errors_total", "counter", "Failed requests since the run began, by class.")
	for i, c := range classes {
		fmt.Fprintf(&b, "capfinder_errors_total{class=%q} %d\n", c, errs[i])
	}
	if last.ok {
		metric("step", "gauge", "The step running.")
		fmt.Fprintf(&b, "capfinder_step{phase=%q} %d\n", last.phase, last.step)
		metric("offered_qps", "gauge", "The load the step offers, requests per second.")
		fmt.Fprintf(&b, "capfinder_offered_qps %g\n", last.offered)
		metric("achieved_qps", "gauge", "Requests that ended in the last second.")
		fmt.Fprintf(&b, "capfinder_achieved_qps %g\n", last.achieved)
		metric("in_flight", "gauge", "Requests in flight.")
		fmt.Fprintf(&b, "capfinder_in_flight %g\n", last.inFlight)
		quantiles := func(name, help string, q50, q90, q99 float64) {
			metric(name, "gauge", help)
			for _, q := range []struct {
				q string
				v float64
			}{{"0.5", q50}, {"0.9", q90}, {"0.99", q99}} {
				if q.v >= 0 {
					fmt.Fprintf(&b, "capfinder_%s{quantile=%q} %g\n", name, q.q, q.v)
				}
			}
		}
		quantiles("latency_seconds", "Latency of the requests that ended in the last second, from their schedule.", last.p50, last.p90, last.p99)
		if h.snap.Info.Streams {
			quantiles("ttft_seconds", "Time to first token of the answers that ended in the last second.", last.ttft50, -1, last.ttft99)
			quantiles("tpot_seconds", "Time per output token of the answers that ended in the last second.", last.tpot50, -1, last.tpot99)
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprint(w, b.String())
}
