package analysis

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
)

func TestServerStats(t *testing.T) {
	s := int64(time.Second)
	var rows []rundir.ServerRow
	// The counter is reset at 3 s (the server restarted): no rate across it.
	for i, v := range [][2]float64{{5, 100}, {2, 110}, {4, 130}, {9, 5}, {1, 15}} {
		at := int64(i) * s
		rows = append(rows, rundir.ServerRow{TimeNs: at, Series: "q", Kind: "gauge", Value: v[0]},
			rundir.ServerRow{TimeNs: at, Series: "c", Kind: "counter", Value: v[1]})
	}
	got := serverStats(rows, 1*s, 4*s)
	// Gauge over [1 s, 4 s]: 2, 4, 9, 1. Counter rates whose later
	// sample is inside: 10/s, 20/s, (reset), 10/s.
	if q := got["q"]; q.Mean != 4 || q.Max != 9 || q.Kind != "gauge" {
		t.Errorf("gauge %+v, want mean 4, max 9", q)
	}
	if c := got["c"]; math.Abs(c.Mean-40.0/3) > 1e-9 || c.Max != 20 || c.Kind != "counter" {
		t.Errorf("counter %+v, want mean 13.3/s, max 20/s", c)
	}
	if got := serverStats(rows, 10*s, 20*s); got != nil {
		t.Errorf("a step without scrapes has %+v", got)
	}
}

// The explanation names what the server ran out of at the first step
// beyond the limit.
func TestExplainServer(t *testing.T) {
	step := func(load float64, v controller.Verdict, waiting, running, kv, preempt float64) (*rundir.StepStats, controller.Step) {
		m := map[string]rundir.ServerStat{
			`vllm:num_requests_waiting{model_name="m"}`:  {Kind: "gauge", Mean: waiting, Max: math.Ceil(waiting)},
			`vllm:num_requests_running{model_name="m"}`:  {Kind: "gauge", Mean: running, Max: running},
			`vllm:kv_cache_usage_perc{model_name="m"}`:   {Kind: "gauge", Mean: kv, Max: kv},
			`vllm:num_preemptions_total{model_name="m"}`: {Kind: "counter", Mean: preempt, Max: preempt},
		}
		return &rundir.StepStats{Offered: load, Server: m}, controller.Step{Verdict: v}
	}
	for _, tc := range []struct {
		name       string
		fail       [4]float64 // waiting, running, kv, preemptions at the failing step
		rule, says string
	}{
		{"KV cache full", [4]float64{6, 40, 0.97, 3}, "kv-cache", "KV cache at 97 %, 3 preemptions/s"},
		{"preempting", [4]float64{3, 40, 0.6, 0.5}, "kv-cache", "ran out of KV cache"},
		{"batch full", [4]float64{8, 64, 0.3, 0}, "batch", "batch slots"},
		{"waiting for no reason shown", [4]float64{8, 30, 0.3, 0}, "waiting", "do not show"},
		{"compute", [4]float64{0, 30, 0.3, 0}, "compute", "ran out of compute"},
		// A short queue, seen at one scrape of the step, is a queue.
		{"a short queue", [4]float64{0.3, 64, 0.3, 0}, "batch", "batch slots"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, pst := step(10, controller.Pass, 0, 20, 0.2, 0)
			fs, fst := step(20, controller.Fail, tc.fail[0], tc.fail[1], tc.fail[2], tc.fail[3])
			// The run's largest batch: 64.
			_, bst := step(30, controller.Fail, 9, 64, 0.3, 0)
			bs := &rundir.StepStats{Offered: 30, Server: map[string]rundir.ServerStat{"vllm:num_requests_running": {Kind: "gauge", Mean: 64, Max: 64}}}
			a := &Analysis{Run: &Run{Steps: []*rundir.StepStats{ps, fs, bs}}, Steps: []controller.Step{pst, fst, bst}}
			text, rule := a.explainServer(&rundir.Summary{Capacity: rundir.Capacity{LimitedBy: "ttft"}})
			if rule != tc.rule || !strings.Contains(text, tc.says) || !strings.Contains(text, "20/s") {
				t.Errorf("rule %q: %s\nwant rule %q saying %q at the 20/s step", rule, text, tc.rule, tc.says)
			}
		})
	}
	// Metrics that none of the rules read do not explain the limit.
	a := &Analysis{
		Run:   &Run{Steps: []*rundir.StepStats{{Offered: 5, Server: map[string]rundir.ServerStat{"process_open_fds": {Kind: "untyped", Mean: 9}}}}},
		Steps: []controller.Step{{Verdict: controller.Fail}},
	}
	if text, rule := a.explainServer(&rundir.Summary{}); rule != "unknown" || !strings.Contains(text, "do not explain") {
		t.Errorf("unknown metrics: rule %q: %s", rule, text)
	}
}

func TestCost(t *testing.T) {
	sum := &rundir.Summary{Recommendation: rundir.Recommendation{PerReplicaQPS: 10}, Tokens: &rundir.Tokens{MeanOutput: 200}}
	c := cost(3.6, sum)
	// 3.6 an hour is 0.001 a second: 10 requests and 2000 tokens a second.
	if c == nil || math.Abs(c.PerThousandRequests-0.1) > 1e-12 || math.Abs(c.PerMillionOutputTokens-0.5) > 1e-12 || c.AtQPS != 10 {
		t.Errorf("cost %+v, want 0.1 per thousand requests and 0.5 per million tokens", c)
	}
	if cost(0, sum) != nil || cost(3.6, &rundir.Summary{}) != nil {
		t.Error("a cost without a price or a load")
	}
}
