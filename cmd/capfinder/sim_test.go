package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

// startSim runs `capfinder sim http ARGS`, as a user would in another
// terminal, and returns its base URL once it listens.
func startSim(t *testing.T, args ...string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	capfinderBin(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var out string
	go func() {
		defer wg.Done()
		_, out, _ = runBin(t, ctx, append([]string{"sim", "http", "--listen", addr}, args...)...)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if !strings.Contains(out, "stopped; served") {
			t.Errorf("sim http did not report on stopping: %q", out)
		}
	})
	waitListening(t, addr)
	return "http://" + addr
}

// waitListening waits up to 10 s for a server to listen on addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunAutoFindsSimLatencyLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	// One worker with a constant 10 ms service time under constant
	// arrivals: no queueing below 100/s, a queue growing without bound
	// above it. With p99 ≤ 80 ms the limit is the capacity itself. The
	// limit is eight service times so that a pause of the machine, which
	// delays a few sends into a burst the plant then drains for seconds
	// this close to its cliff, does not decide the step.
	base := startSim(t, "--workers", "1", "--service-time", "10ms", "--distribution", "constant", "--queue", "-1")
	out := checkCapacity(t, base+"/", 100, "max_rt", "--max-rt", "80ms")
	sum := checkAnalyze(t, out, "--max-rt", "8ms", "20ms", "40ms", "80ms", "200ms", "800ms", "8s")
	if sum.Fit == nil || sum.Knee.QPS <= 0 {
		t.Errorf("no fit or knee from a latency-limited run: %+v", sum.Fit)
	}
}

// checkAnalyze analyses a recorded latency-limited run offline and
// returns the summary it gives with the run's own limits: with those it
// must judge every step as the controller did during the run and find the
// run's capacity. Then it analyses the run with each of limits, tightest
// first, as the value of flag: a tighter limit never gives a higher
// capacity than a looser one.
func checkAnalyze(t *testing.T, dir, flag string, limits ...string) rundir.Summary {
	t.Helper()
	live := readSummary(t, dir)
	var own rundir.Summary
	prev := -1.0
	for _, limit := range append([]string{""}, limits...) {
		out := t.TempDir()
		args := []string{"analyze", "--out", out, "--seed", "1"}
		if limit != "" {
			args = append(args, flag, limit)
		}
		code, stdout, stderr := runCLI(t, context.Background(), append(args, dir)...)
		if code != 0 {
			t.Fatalf("analyze %v: exit %d\n%s\n%s", args, code, stdout, stderr)
		}
		sum := readSummary(t, out)
		if limit == "" {
			// The run's own limits: the same evidence, the same verdicts.
			if sum.Capacity.QPS != live.Capacity.QPS || sum.Capacity.LimitedBy != live.Capacity.LimitedBy || sum.Requests.Sent != live.Requests.Sent {
				t.Errorf("offline capacity %v by %q over %d requests, the run said %v by %q over %d",
					sum.Capacity.QPS, sum.Capacity.LimitedBy, sum.Requests.Sent, live.Capacity.QPS, live.Capacity.LimitedBy, live.Requests.Sent)
			}
			// steps.parquet holds the verdicts the controller acted on
			// during the run.
			decided, err := store.ReadParquet[rundir.StepRow](filepath.Join(dir, "steps.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			// The prompts' calibration is a step of its own, never judged.
			decided = slices.DeleteFunc(decided, func(r rundir.StepRow) bool { return r.Phase == rundir.PhaseCalibrate })
			if len(decided) != len(sum.Steps) {
				t.Fatalf("%d steps offline, %d decided live", len(sum.Steps), len(decided))
			}
			for i, d := range decided {
				if sum.Steps[i].Verdict != d.Verdict {
					t.Errorf("step %d: offline %s, live %s", i+1, sum.Steps[i].Verdict, d.Verdict)
				}
			}
			own = sum
			continue
		}
		t.Logf("%s %s: capacity %.1f req/s", flag, limit, sum.Capacity.QPS)
		if sum.Capacity.QPS < prev {
			t.Errorf("%s %s gives %.1f req/s, under the %.1f of a tighter limit", flag, limit, sum.Capacity.QPS, prev)
		}
		prev = sum.Capacity.QPS
	}
	return own
}

func TestRunAutoFindsSimRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	// Plenty of workers behind a 300/s token bucket: 429s above it. The
	// bucket holds 20 tokens, as rate limiters allow for jitter: with 5, a
	// 20 ms pause of a shared machine bunched sends into a 429 at 200/s.
	base := startSim(t, "--workers", "64", "--service-time", "1ms", "--rate-limit", "300", "--burst", "20")
	checkCapacity(t, base+"/", 300, "fault")
}
