package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The tests that measure a capacity end to end run capfinder as a user
// does: a binary built without the race detector, in its own process.
// Under the race detector the generator is several times slower and
// pauses for tens of milliseconds; a target running within a few percent
// of its limit queues behind every such pause, which moves the very
// answer those tests check. The code they exercise is race-tested in
// process by the other tests.
var built struct {
	once sync.Once
	dir  string
	path string
	out  []byte
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// capfinderBin builds the binary once per test process and returns its
// path.
func capfinderBin(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "capfinder-bin-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "capfinder")
		cmd := exec.Command("go", "build", "-o", built.path, ".")
		built.out, built.err = cmd.CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.path
}

// runBin runs the built binary with args and returns its exit code,
// stdout and stderr. When ctx ends the process gets Ctrl-C, as from a
// terminal, and is killed if it has not exited 10 s later. It may run in
// a goroutine of its own once capfinderBin has built the binary.
func runBin(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, capfinderBin(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	dieWithTest(cmd)
	err := cmd.Run()
	var exit *exec.ExitError
	// After Ctrl-C a clean exit is reported as the context's error.
	if err != nil && !errors.As(err, &exit) && ctx.Err() == nil {
		t.Errorf("capfinder %v: %v", args, err)
		return -1, stdout.String(), stderr.String()
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}
