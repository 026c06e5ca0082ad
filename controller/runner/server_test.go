package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capfinder/capfinder/probe/probetest"
	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

// A run that scrapes the replica's metrics records them, aggregates them
// per step and names what the replica ran out of at its limit: its batch
// slots, or its KV cache.
func TestServerMetricsExplainTheLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  probetest.LLMConfig
		rule string
	}{
		// 8 slots for requests of 64 + 32 tokens, and room for 64 in KV.
		{"batch slots", probetest.LLMConfig{MaxRunning: 8, KVTokens: 64 * 96}, "batch"},
		// 64 slots, and room for 6 in the KV cache.
		{"KV cache", probetest.LLMConfig{MaxRunning: 64, KVTokens: 6 * 96}, "kv-cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := llm(t, tc.cfg)
			s := spec(t, url, rundir.ModeAuto)
			s.API, s.Dataset, s.ServerMetrics = rundir.APIOpenAIChat, "synthetic:input=64,output=32", url+"/metrics"
			s.MaxRT, s.MaxTTFT, s.MinQPS, s.MaxQPS = 0, 150*time.Millisecond, 4, 200
			// A budget the search does not run out of: a run that did could
			// end with no conclusive pass, and nothing to price.
			s.StepDuration, s.Warmup, s.Duration, s.Precision, s.ReplicaCost = 2*time.Second, 500*time.Millisecond, 45*time.Second, 0.1, 2.5
			sum := summaryOf(t, s, nil)
			sv := sum.Server
			if sv == nil || sv.Rule != tc.rule || sv.Series < 8 || sv.Scrapes < 10 {
				t.Fatalf("server %+v; want the rule %q from the replica's series", sv, tc.rule)
			}
			t.Logf("capacity %.1f req/s: %s", sum.Capacity.QPS, sv.Explanation)
			for _, st := range sum.Steps {
				if _, ok := st.Server[`vllm:num_requests_waiting{model_name="sim"}`]; !ok {
					t.Fatalf("step %d has no waiting queue in %v", st.Step, st.Server)
				}
			}
			src, err := store.Open(s.Out)
			if err != nil {
				t.Fatal(err)
			}
			if rows, err := src.Server(); err != nil || len(rows) < 10*sv.Series/2 {
				t.Errorf("server.parquet: %d rows, %v", len(rows), err)
			}
			if c := sum.Cost; c == nil || c.PerMillionOutputTokens <= 0 || c.ReplicaHour != 2.5 {
				t.Errorf("cost %+v, want the safe load priced", c)
			}
		})
	}
}

// An endpoint that does not answer is a warning, never a failed run.
func TestServerMetricsMissing(t *testing.T) {
	url := llm(t, probetest.LLMConfig{})
	s := spec(t, url, rundir.ModeRate)
	s.API, s.Dataset, s.ServerMetrics = rundir.APIOpenAIChat, "synthetic:input=16,output=4", url+"/no-metrics-here"
	s.Rate, s.MaxRT = 10, 0
	var warned bool
	sum := summaryOf(t, s, func(ev Event) {
		if w, ok := ev.(Warning); ok && strings.Contains(w.Message, "server metrics") && strings.Contains(w.Message, "404") {
			warned = true
		}
	})
	if !warned || sum.Server != nil || !strings.Contains(strings.Join(sum.Warnings, "\n"), "no server metrics were recorded") {
		t.Errorf("warned %v, server %+v, warnings %q", warned, sum.Server, sum.Warnings)
	}
	if sum.Requests.OK == 0 {
		t.Error("the run did not go on")
	}
	if _, err := os.Stat(filepath.Join(s.Out, rundir.ServerFile)); err != nil {
		t.Errorf("server.parquet: %v; want an empty file, written whole", err)
	}
}
