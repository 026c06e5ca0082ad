package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/capfinder/capfinder/probe/probetest"
)

// SIGTERM (a container or a CI job being stopped) ends a run as Ctrl-C
// does, with the partial run written, but exits 143, the shell's code for
// it.
func TestRunTerminatedExits143(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	url := serveQueue(t, probetest.QueueConfig{Workers: 8, ServiceTime: time.Millisecond, Seed: 1})
	out := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(capfinderBin(t), "run", "--mode", "rate", "--rate", "50", "--duration", "1m", "--out", out, "-q", url)
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(out, "run.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the run did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Errorf("exit %d after SIGTERM, want 143", code)
	}
	if sum := readSummary(t, out); sum.Status != "stopped" || sum.Requests.Sent == 0 {
		t.Errorf("summary %q with %d sent; want the partial run, stopped", sum.Status, sum.Requests.Sent)
	}
}
