package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capfinder/capfinder/probe/probetest"
	"github.com/capfinder/capfinder/probe/rundir"
)

// A manual run with --listen takes a new concurrency from `capfinder
// update` and ends on `capfinder stop` as on Ctrl-C (exit 130); its steps
// record who asked. `capfinder ls` shows it running, with its address,
// then stopped.
func TestUpdateAndStopARunningRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	url := serveQueue(t, probetest.QueueConfig{Workers: 4, ServiceTime: 5 * time.Millisecond, Seed: 1})
	root := t.TempDir()
	dir := filepath.Join(root, "run")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		code, stdout, stderr := runCLI(t, ctx, "run", "--mode", "manual", "--concurrency", "2", "--step-duration", "2s",
			"--duration", "1m", "--listen", addr, "--out", dir, url)
		done <- result{code, stdout, stderr}
	}()
	waitListening(t, addr)

	// The page and /metrics answer while it runs.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "capfinder_requests_sent_total") {
		t.Errorf("/metrics:\n%s", metrics)
	}
	code, stdout, _ := runCLI(t, context.Background(), "ls", root)
	if code != 0 || !strings.Contains(stdout, "running") || !strings.Contains(stdout, addr) {
		t.Errorf("ls while running: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := runCLI(t, context.Background(), "update", "--listen", addr, "--rate", "10"); code != exitUsage || !strings.Contains(stderr, "concurrency") {
		t.Errorf("a rate for a manual run: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, context.Background(), "update", "--listen", addr, "--concurrency", "3"); code != 0 {
		t.Fatalf("update: exit %d, %s", code, stderr)
	}
	// Stop once a step has run at the new concurrency.
	within(30*time.Second, func() bool {
		state, err := apiState(addr)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(state, `"asked_by":"command"`)
	})
	if code, _, stderr := runCLI(t, context.Background(), "stop", "--listen", "http://"+addr+"/"); code != 0 {
		t.Fatalf("stop: exit %d, %s", code, stderr)
	}
	res := <-done
	if res.code != exitInterrupted {
		t.Fatalf("the stopped run exited %d, want 130\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	sum := readSummary(t, dir)
	asked := 0
	for _, st := range sum.Steps {
		switch {
		case st.Concurrency == 3 && st.AskedBy == "command":
			asked++
		case st.Concurrency == 3 || st.AskedBy != "":
			t.Errorf("step %d: concurrency %d asked by %q", st.Step, st.Concurrency, st.AskedBy)
		}
	}
	if asked == 0 {
		t.Errorf("no step ran at the concurrency asked for: %+v", sum.Steps)
	}
	if _, err := os.Stat(filepath.Join(dir, lockFile)); !os.IsNotExist(err) {
		t.Errorf("the lock outlived the run: %v", err)
	}
	code, stdout, _ = runCLI(t, context.Background(), "ls", root)
	if code != 0 || !strings.Contains(stdout, "stopped") || strings.Contains(stdout, "running") {
		t.Errorf("ls after the run: exit %d\n%s", code, stdout)
	}
}

// A dashboard beyond loopback needs --listen-public; a run whose process
// died is listed as died.
func TestListenRefusesPublicAddresses(t *testing.T) {
	url := serveQueue(t, probetest.QueueConfig{Workers: 1, ServiceTime: time.Millisecond, Seed: 1})
	dir := filepath.Join(t.TempDir(), "run")
	code, _, stderr := runCLI(t, context.Background(), "run", "--mode", "rate", "--rate", "5", "--duration", "1s", "--listen", "0.0.0.0:0", "--out", dir, url)
	if code != exitUsage || !strings.Contains(stderr, "--listen-public") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a refused run left %s", dir)
	}
	// A lock naming a process that is gone.
	dead := filepath.Join(t.TempDir(), "dead")
	os.MkdirAll(dead, 0o755)
	rundir.WriteJSON(filepath.Join(dead, rundir.RunJSON), rundir.RunInfo{Spec: rundir.Spec{URL: "http://user:pw@127.0.0.1:1/x", Mode: rundir.ModeAuto}})
	rundir.WriteJSON(filepath.Join(dead, lockFile), lock{PID: 1 << 30})
	code, stdout, _ := runCLI(t, context.Background(), "ls", filepath.Dir(dead))
	if code != 0 || !strings.Contains(stdout, "died") || strings.Contains(stdout, "pw") {
		t.Errorf("ls of a dead run: exit %d\n%s", code, stdout)
	}
}
