package runner_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/probe/probetest"
	"github.com/capfinder/capfinder/probe/rundir"
)

// A fixed rate of 200 requests per second against a simulated target,
// for 100 requests, watched through the run's events.
func ExampleRunner() {
	ctx := context.Background()
	srv, _ := probetest.Serve(ctx, "127.0.0.1:0", probetest.NewQueue(probetest.QueueConfig{Workers: 4, ServiceTime: time.Millisecond}))
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "capfinder-runner-")
	defer os.RemoveAll(dir)

	r, err := runner.New(runner.Spec{
		URL: srv.URL, Mode: rundir.ModeRate, Rate: 200, Requests: 100, API: rundir.APIHTTP,
		Arrival: rundir.ArrivalConstant, MinQPS: 1, MaxQPS: 1000, AdjustInterval: time.Minute,
		StepDuration: time.Minute, Duration: time.Minute, Precision: 0.02, RTQuantile: 0.99,
		FaultAction: rundir.FaultRevise, Timeout: 5 * time.Second, Out: filepath.Join(dir, "run"),
	}, runner.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for ev := range r.Run(ctx) {
		switch ev := ev.(type) {
		case runner.Judged:
			fmt.Printf("step %d at %g/s: %d sent, %s\n", ev.Step.Index, ev.Step.Decision.Rate, ev.Stats.Sent, ev.Step.Verdict)
		case runner.Done:
			fmt.Println(ev.Result.Status, ev.Result.Summary.Requests.Recorded, "recorded", ev.Err)
		}
	}
	// Output:
	// step 1 at 200/s: 100 sent, pass
	// finished 100 recorded <nil>
}
