package main

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/probe/probetest"
	"github.com/capfinder/capfinder/probe/rundir"
)

// TestRunLLMRecordsStreams searches the capacity of a simulated LLM
// replica under a TTFT limit, as a user would, and checks what the run
// kept: every completed stream's row has its first token, the output
// tokens the server's usage reported and token times the replica's
// decode steps allow; the summary has tokens and goodput; the report
// draws the streams; and the run analysed offline gives the live
// verdicts.
func TestRunLLMRecordsStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	cfg := probetest.LLMConfig{MaxRunning: 8, DecodeTime: 5 * time.Millisecond, DecodePerSeq: time.Millisecond}
	llm := probetest.NewLLM(cfg)
	defer llm.Close()
	srv := httptest.NewServer(llm)
	defer srv.Close()
	const input, output = 32, 16
	t.Logf("replica capacity %.1f req/s for %d+%d tokens", llm.Config().Capacity(input, output), input, output)

	dir := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code, stdout, stderr := runCLI(t, ctx, "run", "--api", "openai-chat", "--dataset", "synthetic:input=32,output=16",
		"--mode", "auto", "--min-qps", "10", "--max-qps", "200", "--step-duration", "3s", "--warmup", "500ms",
		"--max-ttft", "150ms", "--rt-quantile", "0.9", "--precision", "0.1", "--duration", "1m", "--seed", "3",
		"--server-metrics", srv.URL+"/metrics", "--replica-cost", "3", "--out", dir, "-q", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	sum := readSummary(t, dir)
	t.Logf("capacity %.1f req/s limited by %s; %+v", sum.Capacity.QPS, sum.Capacity.LimitedBy, sum.Tokens)
	if sum.Capacity.QPS <= 0 || sum.Capacity.LimitedBy != "ttft" {
		t.Errorf("capacity %.1f limited by %q, want one limited by ttft\n%s", sum.Capacity.QPS, sum.Capacity.LimitedBy, stdout)
	}
	if sum.Tokens == nil || sum.Tokens.MeanOutput != output || sum.Tokens.CountedFromChunk != 0 || sum.Tokens.UsageMismatch != 0 {
		t.Errorf("tokens %+v, want %d output tokens a request, all from usage", sum.Tokens, output)
	}
	if !strings.Contains(stdout, "tokens") {
		t.Errorf("the answer does not state tokens:\n%s", stdout)
	}
	for _, st := range sum.Steps {
		if st.Samples > 0 && (st.TTFTP99Ms <= 0 || st.TPOTP99Ms <= 0 || st.OutputTokensPS <= 0) {
			t.Errorf("step %d has no stream metrics: %+v", st.Step, st)
		}
		if st.GoodputQPS > st.AchievedQPS*1.05+1 {
			t.Errorf("step %d: goodput %.1f above the %.1f completed", st.Step, st.GoodputQPS, st.AchievedQPS)
		}
	}

	var ok, tokens int64
	step := cfg.DecodeTime
	err := readRecords(t, dir, func(rows []rundir.Record) error {
		for _, r := range rows {
			if r.Error != "" {
				continue
			}
			ok++
			if r.Step == 0 {
				// The prompts' calibration asks for one token.
				if r.OutputTokens != 1 || r.PromptTokens == 0 {
					t.Fatalf("calibration row has %d prompt and %d output tokens, want some and 1", r.PromptTokens, r.OutputTokens)
				}
				tokens++
				continue
			}
			tokens += int64(r.OutputTokens)
			if r.FirstTokenNs <= r.SentNs || r.LastTokenNs < r.FirstTokenNs || r.EndNs < r.LastTokenNs {
				t.Fatalf("row out of order: sent %d, first token %d, last %d, end %d", r.SentNs, r.FirstTokenNs, r.LastTokenNs, r.EndNs)
			}
			if r.TokenSource != "usage" || r.OutputTokens != output || r.Chunks != output {
				t.Fatalf("row has %d output tokens from %q in %d chunks, want %d from usage", r.OutputTokens, r.TokenSource, r.Chunks, output)
			}
			// Each token after the first costs the replica a decode step;
			// a pause of the client's may bunch a few of them.
			if tpot := time.Duration((r.LastTokenNs - r.FirstTokenNs) / int64(r.OutputTokens-1)); tpot < step/2 {
				t.Fatalf("TPOT %v, shorter than the replica's %v decode step", tpot, step)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := llm.Stats(); ok == 0 || ok != st.Served || tokens != st.Tokens {
		t.Errorf("%d rows completed with %d output tokens; the replica served %d with %d", ok, tokens, st.Served, st.Tokens)
	}

	for _, name := range []string{"streaming.png", "tokens.svg", "server.png"} {
		if _, err := os.Stat(filepath.Join(dir, "plots", name)); err != nil {
			t.Error(err)
		}
	}
	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"plots/streaming.png", "plots/server.png", "- Server: ", "ran out of batch slots", "- Cost: "} {
		if err != nil || !strings.Contains(string(report), want) {
			t.Errorf("report.md does not say %q (%v)", want, err)
		}
	}
	// The replica's 8 slots are its limit, and its metrics say so.
	if sv := sum.Server; sv == nil || sv.Rule != "batch" || !strings.Contains(stdout, "server: ") || !strings.Contains(stdout, "cost: ") {
		t.Errorf("server %+v; the answer:\n%s", sv, stdout)
	}
	checkAnalyze(t, dir, "--max-ttft", "20ms", "50ms", "150ms", "1s")
}

func TestRunLLMByRequestCount(t *testing.T) {
	// The EAS LLM test's fixed concurrency by sample count: every request
	// is answered and recorded — none is cut at the end, though each takes
	// longer than the grace an interrupted run gives (64 decode steps of
	// 13 ms) — and the answer states the tokens the concurrency sustained.
	llm := probetest.NewLLM(probetest.LLMConfig{MaxRunning: 8, DecodeTime: 5 * time.Millisecond, DecodePerSeq: time.Millisecond})
	defer llm.Close()
	srv := httptest.NewServer(llm)
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runCLI(t, context.Background(), "run", "--api", "openai-chat", "--dataset", "synthetic:input=32,output=64",
		"--mode", "concurrency", "--concurrency", "16", "--requests", "60", "--seed", "1", "--out", dir, "-q", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	sum := readSummary(t, dir)
	// The prompts' calibration comes on top of the requests asked for.
	const want = 60 + runner.CalibrationRequests
	if q := sum.Requests; q.Sent != want || q.OK != want || q.Canceled != 0 {
		t.Errorf("requests %+v, want %d sent and answered, none cancelled", q, want)
	}
	if st := llm.Stats(); st.Served != want {
		t.Errorf("the replica served %d, want %d", st.Served, want)
	}
	if sum.Tokens == nil || sum.Tokens.OutputPerS <= 0 || !strings.Contains(stdout, "tokens: ") {
		t.Errorf("tokens %+v; want the output tokens/s the concurrency sustained, stated in the answer:\n%s", sum.Tokens, stdout)
	}
	checkRecorded(t, dir, sum)
}

// TestLLMAutoMatchesLongFixedRateRuns is the LLM acceptance measurement,
// run by `make bench-llm` (about 10 minutes): against the default
// simulated replica with the default constant arrivals, the capacity `auto` finds
// under a TTFT p99 limit in at most 3 minutes of load is within ±5 % of
// the ground truth that long fixed-rate runs measure.
func TestLLMAutoMatchesLongFixedRateRuns(t *testing.T) {
	if os.Getenv("CAPFINDER_BENCH_LLM") == "" {
		t.Skip("long; `make bench-llm` runs it")
	}
	const (
		dataset = "synthetic:input=256,output=64"
		ttft    = 500 * time.Millisecond
	)
	base := startSimLLM(t)
	common := []string{"run", "--api", "openai-chat", "--dataset", dataset, "-q"}

	dir := filepath.Join(t.TempDir(), "auto")
	start := time.Now()
	code, stdout, stderr := runBin(t, context.Background(), append(common, "--mode", "auto", "--min-qps", "16",
		"--max-ttft", ttft.String(), "--duration", "3m", "--seed", "1", "--out", dir, base)...)
	if code != 0 {
		t.Fatalf("auto: exit %d\n%s\n%s", code, stdout, stderr)
	}
	sum := readSummary(t, dir)
	var load float64
	for _, st := range sum.Steps {
		load += st.EndS - st.StartS
	}
	found := sum.Capacity.QPS
	t.Logf("auto: %.2f req/s (between %.2f and %.2f) limited by %s, %d steps, %.0f s of load (%s wall), %s",
		found, sum.Capacity.Low, sum.Capacity.High, sum.Capacity.LimitedBy, len(sum.Steps), load, time.Since(start).Round(time.Second), sum.Status)
	if load > 181 {
		t.Errorf("auto took %.0f s of load, want at most 3 minutes", load)
	}

	// Ground truth: the capacity found is within ±5 % of the true one
	// exactly when the true one lies in [found/1.05, found/0.95]: the
	// replica holds the limit at found/1.05 and breaks it at found/0.95.
	// Each is decided by a three-minute fixed-rate run, judged by the TTFT
	// p99 of the requests scheduled after a 20 s warm-up and 10 s before
	// the end, which cuts those in flight (a request that failed or never
	// streamed counts as over the limit).
	p99At := func(rate float64, seed int) time.Duration {
		dir := filepath.Join(t.TempDir(), "fixed")
		code, stdout, stderr := runBin(t, context.Background(), append(common, "--mode", "rate", "--rate", fmt.Sprint(rate),
			"--duration", "3m", "--step-duration", "3m", "--seed", fmt.Sprint(seed), "--out", dir, base)...)
		if code != 0 {
			t.Fatalf("rate %.2f: exit %d\n%s\n%s", rate, code, stdout, stderr)
		}
		var ttfts []time.Duration
		err := readRecords(t, dir, func(rows []rundir.Record) error {
			for _, r := range rows {
				if r.ScheduledNs < int64(20*time.Second) || r.ScheduledNs > int64(170*time.Second) {
					continue
				}
				d := time.Duration(math.MaxInt64)
				if r.Error == "" && r.FirstTokenNs > 0 {
					d = time.Duration(r.FirstTokenNs - r.ScheduledNs)
				}
				ttfts = append(ttfts, d)
			}
			return nil
		})
		if err != nil || len(ttfts) == 0 {
			t.Fatalf("rate %.2f: %d rows, %v", rate, len(ttfts), err)
		}
		slices.Sort(ttfts)
		p99 := ttfts[int(math.Ceil(0.99*float64(len(ttfts))))-1]
		t.Logf("fixed rate %.2f req/s for 3 minutes: %d requests judged, TTFT p99 %v", rate, len(ttfts), p99)
		return p99
	}
	if p99 := p99At(found/1.05, 100); p99 > ttft {
		t.Errorf("at %.2f req/s (found/1.05) the replica breaks the limit (TTFT p99 %v): the capacity is more than 5 %% under %.2f", found/1.05, p99, found)
	}
	if p99 := p99At(found/0.95, 101); p99 <= ttft {
		t.Errorf("at %.2f req/s (found/0.95) the replica holds the limit (TTFT p99 %v): the capacity is more than 5 %% over %.2f", found/0.95, p99, found)
	}
}

// startSimLLM runs `capfinder sim llm` with its defaults from the built
// binary and returns its base URL once it listens.
func startSimLLM(t *testing.T) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	capfinderBin(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		runBin(t, ctx, "sim", "llm", "--listen", addr)
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitListening(t, addr)
	return "http://" + addr
}
