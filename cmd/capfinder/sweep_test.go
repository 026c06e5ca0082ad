package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capfinder/capfinder/analysis/compare"
	"github.com/capfinder/capfinder/probe/probetest"
)

// writeSweep writes a sweep file of run options and targets into dir.
func writeSweep(t *testing.T, dir string, f sweepFile) string {
	t.Helper()
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sweep.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A sweep over two simulated LLM replicas, one with twice the batch of
// the other, names the larger the winner, writes the comparison with its
// overlays, and keeps no secret of the targets' headers.
func TestSweepNamesTheWinner(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	const token = "s3cret-token"
	t.Setenv("SWEEP_TEST_TOKEN", token)
	var (
		mu   sync.Mutex
		auth = map[string]bool{}
	)
	replica := func(running int) string {
		llm := probetest.NewLLM(probetest.LLMConfig{MaxRunning: running, DecodeTime: 5 * time.Millisecond, DecodePerSeq: time.Millisecond})
		t.Cleanup(llm.Close)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			auth[r.Header.Get("Authorization")] = true
			mu.Unlock()
			llm.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	small, large := replica(4), replica(8)
	dir := t.TempDir()
	out := filepath.Join(dir, "nightly")
	file := writeSweep(t, dir, sweepFile{
		Out: out,
		Run: map[string]any{
			"api": "openai-chat", "dataset": "synthetic:input=32,output=16", "min-qps": 10, "max-qps": 200,
			"step-duration": "3s", "warmup": "500ms", "max-ttft": "150ms", "rt-quantile": 0.9, "precision": 0.1,
			"duration": "1m", "seed": 3,
		},
		Targets: []sweepTarget{
			{Name: "small", URL: small, ServerMetrics: small + "/metrics", ReplicaCost: 2},
			{Name: "large", URL: large, ServerMetrics: large + "/metrics", ReplicaCost: 3,
				Headers: map[string]string{"Authorization": "Bearer ${SWEEP_TEST_TOKEN}"}},
		},
	})
	code, stdout, stderr := runCLI(t, context.Background(), "sweep", "--fail-on-regression", "5", "-q", file)
	if code != 0 {
		t.Fatalf("sweep: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("sweep:\n%s", stdout)
	if !strings.HasPrefix(stdout, "best: large ") || !strings.Contains(stdout, "better: large") {
		t.Errorf("the sweep does not name the larger replica the winner:\n%s", stdout)
	}
	if !auth["Bearer "+token] {
		t.Errorf("the large replica never saw its header from the environment (saw %v)", auth)
	}
	// The comparison holds TTFT and TPOT at a matched load, judged by a
	// bootstrap over requests, and the server's state at capacity.
	var cmp compare.Comparison
	b, err := os.ReadFile(filepath.Join(out, "compare.json"))
	if err != nil || json.Unmarshal(b, &cmp) != nil {
		t.Fatalf("compare.json: %v", err)
	}
	names := map[string]compare.Metric{}
	for _, m := range cmp.Candidates[0].Metrics {
		names[strings.SplitN(m.Name, "_at_", 2)[0]] = m
	}
	for _, want := range []string{"capacity_qps", "goodput_qps", "output_tokens_per_s", "p90_ms", "ttft_p90_ms", "tpot_p90_ms", "server_running"} {
		if _, ok := names[want]; !ok {
			t.Errorf("the comparison has no %s: %+v", want, cmp.Candidates[0].Metrics)
		}
	}
	if m := names["ttft_p90_ms"]; m.Evidence != "bootstrap" || m.BaseRange[0] >= m.BaseRange[1] {
		t.Errorf("TTFT at the matched load %+v, want a bootstrap interval", m)
	}
	// No secret reaches the sweep directory.
	filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(token)) {
				t.Errorf("%s holds the token", path)
			}
		}
		return nil
	})
	// The page shows the four overlays: latency, throughput, TTFT and
	// the frontiers.
	if n := renderedFigures(t, chromiumPath(t), filepath.Join(out, "compare.html")); n != 4 {
		t.Errorf("compare.html: %d figures rendered, want 4", n)
	}
	// Compared the other way round, the smaller replica is a regression.
	code, stdout, _ = runCLI(t, context.Background(), "compare", "--fail-on-regression", "5", filepath.Join(out, "large"), filepath.Join(out, "small"))
	if code != 1 || !strings.Contains(stdout, "REGRESSED") {
		t.Errorf("small against large: exit %d\n%s", code, stdout)
	}
}

// An interrupted sweep continues with the runs still missing and keeps
// those that finished; repeats measure the noise floor and report each
// target's spread.
func TestSweepResumesAndRepeats(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	a := serveQueue(t, probetest.QueueConfig{Workers: 4, ServiceTime: 5 * time.Millisecond, Seed: 1})
	b := serveQueue(t, probetest.QueueConfig{Workers: 4, ServiceTime: 5 * time.Millisecond, Seed: 2})
	dir := t.TempDir()
	out := filepath.Join(dir, "sweep")
	file := writeSweep(t, dir, sweepFile{
		Repeat: 2,
		// Fixed loads: quick, and what a sweep does with them is the same.
		Run:     map[string]any{"mode": "rate", "rate": 100, "max-rt": "50ms", "duration": "2s", "step-duration": "1s", "seed": 5},
		Targets: []sweepTarget{{Name: "a", URL: a}, {Name: "b", URL: b}},
	})
	// Ctrl-C as the third run begins.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout bytes.Buffer
	stderr := &watch{on: "(3 of 4)", do: cancel}
	err := run(ctx, &stdout, stderr, []string{"capfinder", "sweep", "--out", out, "-q", file})
	if code := exitCode(err, stderr); code != exitInterrupted || !strings.Contains(stderr.String(), "run the same command again") {
		t.Fatalf("interrupted sweep: exit %d\n%s", code, stderr)
	}
	code, sout, serr := runCLI(t, context.Background(), "sweep", "--out", out, "-q", file)
	if code != 0 {
		t.Fatalf("resumed sweep: exit %d\n%s\n%s", code, sout, serr)
	}
	for _, want := range []string{
		filepath.Join(out, "a", "1") + " (1 of 4) finished before",
		filepath.Join(out, "a", "2") + " (2 of 4) finished before",
		filepath.Join(out, "b", "1") + " (3 of 4) against",
		filepath.Join(out, "b", "2") + " (4 of 4) against",
	} {
		if !strings.Contains(serr, want) {
			t.Errorf("the resumed sweep did not say %q:\n%s", want, serr)
		}
	}
	if strings.Contains(serr, filepath.Join(out, "a", "1")+" (1 of 4) against") {
		t.Errorf("a finished run was run again:\n%s", serr)
	}
	// Each target's two capacities and their spread; the noise floor
	// comes from them.
	var cmp compare.Comparison
	code, sout, _ = runCLI(t, context.Background(), "sweep", "--out", out, "--format", "json", "-q", file)
	if code != 0 || json.Unmarshal([]byte(sout), &cmp) != nil {
		t.Fatalf("sweep --format json: exit %d\n%s", code, sout)
	}
	if len(cmp.Repeats) != 2 || len(cmp.Repeats[0].Capacities) != 2 || cmp.NoiseFrom != "repeats" || cmp.Noise < compare.MinNoise {
		t.Errorf("repeats %+v, noise %v from %q; want two targets of two runs, the noise from them", cmp.Repeats, cmp.Noise, cmp.NoiseFrom)
	}
	for _, r := range cmp.Repeats {
		if r.Spread > cmp.Noise {
			t.Errorf("%s spreads %.3f, beyond the noise floor %.3f", r.Name, r.Spread, cmp.Noise)
		}
	}
	if cmp.Candidates[0].Metrics[0].Verdict != compare.Same {
		t.Errorf("two targets alike: %+v", cmp.Candidates[0].Metrics[0])
	}
	// --rerun runs a finished target again; another file in the same
	// directory is refused.
	code, _, serr = runCLI(t, context.Background(), "sweep", "--out", out, "--rerun", "nope", "-q", file)
	if code != exitUsage || !strings.Contains(serr, "no such target") {
		t.Errorf("--rerun of an unknown target: exit %d\n%s", code, serr)
	}
	other := writeSweep(t, t.TempDir(), sweepFile{Targets: []sweepTarget{{Name: "c", URL: a}}})
	code, _, serr = runCLI(t, context.Background(), "sweep", "--out", out, other)
	if code != exitUsage || !strings.Contains(serr, "begun with other settings") {
		t.Errorf("another sweep in the same directory: exit %d\n%s", code, serr)
	}
}

// watch is a writer that calls do once it has seen on.
type watch struct {
	bytes.Buffer
	on   string
	do   func()
	once sync.Once
}

func (w *watch) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	if strings.Contains(w.String(), w.on) {
		w.once.Do(w.do)
	}
	return n, err
}

func TestSweepRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file, want string
	}{
		{"no targets", `{"run": {"max-rt": "50ms"}}`, "no targets"},
		{"unnamed", `{"targets": [{"url": "http://127.0.0.1:1"}]}`, "name \"\" must be"},
		{"twice", `{"targets": [{"name": "a", "url": "http://127.0.0.1:1"}, {"name": "a", "url": "http://127.0.0.1:2"}]}`, "two targets are called \"a\""},
		{"no url", `{"targets": [{"name": "a"}]}`, "target \"a\" has no url"},
		{"per target", `{"run": {"model": "x"}, "targets": [{"name": "a", "url": "http://127.0.0.1:1"}]}`, "run.model is set for each target"},
		{"unknown field", `{"target": []}`, "unknown field"},
		{"bad repeat", `{"repeat": -1, "targets": [{"name": "a", "url": "http://127.0.0.1:1"}]}`, "repeat must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".json")
			os.WriteFile(path, []byte(tc.file), 0o644)
			code, _, stderr := runCLI(t, context.Background(), "sweep", "--out", filepath.Join(dir, "out"), path)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, %q; want 2 and one line with %q", code, stderr, tc.want)
			}
		})
	}
	// A bad run option is the run's usage error, named by its flag.
	path := filepath.Join(dir, "flag.json")
	os.WriteFile(path, []byte(fmt.Sprintf(`{"run": {"max-rt": "soon"}, "targets": [{"name": "a", "url": %q}]}`, "http://127.0.0.1:1")), 0o644)
	code, _, stderr := runCLI(t, context.Background(), "sweep", "-q", "--out", filepath.Join(dir, "flag"), path)
	if code != exitUsage || !strings.Contains(stderr, "max-rt") {
		t.Errorf("a bad run option: exit %d\n%s", code, stderr)
	}
}
