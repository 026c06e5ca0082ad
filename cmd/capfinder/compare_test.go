package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capfinder/capfinder/analysis/compare"
	"github.com/capfinder/capfinder/probe/probetest"
)

// searchRun finds the capacity of a queueing target of workers 5 ms
// workers under p99 ≤ 50 ms, into dir.
func searchRun(t *testing.T, workers int, seed uint64, dir string) {
	t.Helper()
	url := serveQueue(t, probetest.QueueConfig{Workers: workers, ServiceTime: 5 * time.Millisecond, Seed: seed})
	code, stdout, stderr := runCLI(t, context.Background(), "run", "--max-rt", "50ms", "--min-qps", "200", "--step-duration", "1s", "--precision", "0.05",
		"--warmup", "300ms", "--duration", "1m", "--seed", fmt.Sprint(seed), "--out", dir, "-q", url)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// Repeated runs of one target are never flagged as a regression; a
// target of a quarter less capacity is, and the comparison exits 1.
func TestCompareFlagsOnlyRealRegressions(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base")
	searchRun(t, 4, 1, base)
	for i := range 4 {
		again := filepath.Join(dir, fmt.Sprint("again", i))
		searchRun(t, 4, uint64(i+2), again)
		code, stdout, stderr := runCLI(t, context.Background(), "compare", "--fail-on-regression", "5", base, again)
		if code != 0 || !strings.Contains(stdout, "no significant change") {
			t.Errorf("a repeat of the baseline: exit %d\n%s\n%s", code, stdout, stderr)
		}
	}
	slower := filepath.Join(dir, "slower")
	searchRun(t, 3, 9, slower)
	code, stdout, stderr := runCLI(t, context.Background(), "compare", "--fail-on-regression", "5", base, slower)
	if code != 1 || !strings.Contains(stdout, "REGRESSED: "+slower) || !strings.Contains(stdout, "best: "+base) {
		t.Errorf("a quarter less capacity: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The page holds the answer and the overlays, inlined.
	out := filepath.Join(dir, "cmp")
	if code, _, stderr := runCLI(t, context.Background(), "compare", "--out", out, base, slower); code != 0 {
		t.Fatalf("compare --out: exit %d\n%s", code, stderr)
	}
	page, err := os.ReadFile(filepath.Join(out, "compare.html"))
	if err != nil || strings.Count(string(page), "data:image/png;base64,") != 3 || !strings.Contains(string(page), "worse") {
		t.Errorf("compare.html: %v, %d figures inlined", err, strings.Count(string(page), "data:image/png;base64,"))
	}
	for _, name := range []string{"compare.md", "compare.json", "plots/latency.png", "plots/throughput.svg", "plots/frontier.png"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	// The JSON says the same, metric by metric.
	code, stdout, _ = runCLI(t, context.Background(), "compare", "--format", "json", base, slower)
	var cmp compare.Comparison
	if err := json.Unmarshal([]byte(stdout), &cmp); err != nil || code != 0 {
		t.Fatalf("json: exit %d, %v\n%s", code, err, stdout)
	}
	if m := cmp.Candidates[0].Metrics[0]; m.Name != "capacity_qps" || m.Verdict != compare.Worse || m.Change > -0.15 {
		t.Errorf("capacity %+v, want worse by about a quarter", m)
	}
	// Runs under other limits are refused, unless forced.
	other := filepath.Join(dir, "other")
	url := serveQueue(t, probetest.QueueConfig{Workers: 4, ServiceTime: 5 * time.Millisecond, Seed: 1})
	if code, stdout, stderr := runCLI(t, context.Background(), "run", "--mode", "rate", "--rate", "100", "--duration", "2s", "--max-rt", "20ms", "--out", other, "-q", url); code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, context.Background(), "compare", base, other); code != 2 || !strings.Contains(stderr, "--max-rt") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("different limits: exit %d, %q; want 2 and one line", code, stderr)
	}
	if code, stdout, _ := runCLI(t, context.Background(), "compare", "--force", base, other); code != 0 || !strings.Contains(stdout, "compared as asked (--force)") {
		t.Errorf("forced: exit %d\n%s", code, stdout)
	}
}
