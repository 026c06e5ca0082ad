package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// startSim runs `capfinder sim http ARGS` in-process, as a user would in
// another terminal, and returns its base URL once it listens.
func startSim(t *testing.T, args ...string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var out string
	go func() {
		defer wg.Done()
		_, out, _ = runCLI(t, ctx, append([]string{"sim", "http", "--listen", addr}, args...)...)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if !strings.Contains(out, "stopped; served") {
			t.Errorf("sim http did not report on stopping: %q", out)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("sim http did not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunAutoFindsSimLatencyLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	// One worker with a constant 2.5 ms service time under constant
	// arrivals: no queueing below 400/s, a queue growing without bound
	// above it. With p99 ≤ 20 ms the limit is the capacity itself.
	base := startSim(t, "--workers", "1", "--service-time", "2.5ms", "--distribution", "constant", "--queue", "-1")
	checkCapacity(t, base+"/", 400, "max_rt", "--max-rt", "20ms")
}

func TestRunAutoFindsSimRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	// Plenty of workers behind a 300/s token bucket: 429s above it.
	base := startSim(t, "--workers", "64", "--service-time", "1ms", "--rate-limit", "300", "--burst", "5")
	checkCapacity(t, base+"/", 300, "fault")
}
