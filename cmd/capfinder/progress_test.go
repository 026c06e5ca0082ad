package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/probe/rundir"
)

// replay feeds p a search of two steps of 12 seconds each, with a status
// second by second.
func replay(p *progress) {
	spec := p.spec
	p.start(runner.Started{Dir: "runs/x", Spec: spec})
	for step := 1; step <= 2; step++ {
		rate := 100.0 * float64(step)
		for i := range 12 {
			t := float64((step-1)*12 + i + 1)
			p.tick(rundir.Second{T: t, Step: step, Phase: "grow", OfferedQPS: rate, Done: int64(rate) - 1, Failed: int64(step - 1),
				P50Ms: 4 * float64(step), P99Ms: 20 * float64(step)})
		}
		lat := rundir.NewHistogram()
		for range 100 {
			rundir.RecordNs(lat, int64(time.Duration(step)*10*time.Millisecond))
		}
		st := &rundir.StepStats{Step: step, Offered: rate, Start: 0, End: 12 * time.Second, Completed: int64(12 * rate), Samples: 100, OK: 100, Latency: lat}
		p.step(controller.Step{Index: step, Decision: controller.Decision{Rate: rate, Phase: "grow"}, Verdict: controller.Pass}, st)
	}
}

// Off a terminal (a pipe, a file, CI=true) the progress is plain lines:
// no control characters, and a status line at most every 5 s between
// the steps' lines.
func TestProgressGolden(t *testing.T) {
	spec := runner.Spec{URL: "http://127.0.0.1:8080/", Mode: rundir.ModeAuto, MaxRT: 100 * time.Millisecond, RTQuantile: 0.99, FaultTolerate: 0.001, MaxQPS: 1000, Duration: 10 * time.Minute}
	t.Setenv("CI", "true")
	var b bytes.Buffer
	p := newProgress(&b, false, spec)
	p.began = time.Now().Add(-time.Hour) // the status line's elapsed time varies; fixed here
	replay(p)
	out := b.String()
	if strings.ContainsAny(out, "\r\033") {
		t.Errorf("control characters in the piped output:\n%q", out)
	}
	if n := strings.Count(out, "  … "); n != 4 {
		t.Errorf("%d status lines over 24 s, want 4 (one every 5 s, and none beyond)", n)
	}
	checkGolden(t, "testdata/golden/progress-piped", map[string]string{"stderr": out})

	// Quiet, nothing.
	b.Reset()
	replay(newProgress(&b, true, spec))
	if b.Len() != 0 {
		t.Errorf("--quiet printed:\n%s", b.String())
	}
}

// On a terminal the status line is redrawn in place, and cleared before
// a step's line.
func TestProgressOnATerminal(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false, runner.Spec{Mode: rundir.ModeAuto, Duration: time.Minute})
	p.live = true
	replay(p)
	out := b.String()
	if n := strings.Count(out, "\r\033[Kstep 1 grow: offered 100/s"); n != 12 {
		t.Errorf("the status line of step 1 was drawn %d times, want 12:\n%q", n, out)
	}
	if !strings.Contains(out, "\r\033[K step phase") || !strings.Contains(out, "\r\033[K    2 grow") || strings.Contains(out, "left    ") {
		t.Errorf("a step's line does not clear the status line first:\n%q", out)
	}
}

// A search the generator could not take past a load says its answer is a
// lower bound set by the generator (the report says so too: analysis's
// TestAGeneratorBoundAnswerIsALowerBound).
func TestAGeneratorBoundAnswerIsALowerBound(t *testing.T) {
	sum := rundir.Summary{Mode: string(rundir.ModeAuto), Status: "generator_bound",
		Capacity: rundir.Capacity{QPS: 40000, Low: 40000, LimitedBy: "generator"}}
	var b bytes.Buffer
	printAnswer(&b, sum, t.TempDir())
	if !strings.Contains(b.String(), "capacity: at least 40000 req/s, a lower bound set by the generator") {
		t.Errorf("the terminal's answer:\n%s", b.String())
	}
}
