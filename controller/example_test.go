package controller_test

import (
	"context"
	"fmt"
	"time"

	"github.com/capfinder/capfinder/controller"
)

// A search against a target that fails everything above 740 requests/s.
// The step function stands in for the load engine.
func ExampleRun() {
	lim := controller.Limits{Quantile: 0.99, FaultTolerate: 0.001, MinTail: 5}
	auto := controller.NewAuto(controller.AutoConfig{Start: 100, Limits: lim})
	step := func(_ context.Context, d controller.Decision) (controller.Window, error) {
		n := int(d.Rate * d.Hold.Seconds())
		failures := 0
		if d.Rate > 740 {
			failures = int(float64(n) * (d.Rate - 740) / d.Rate)
		}
		return controller.Window{Offered: d.Rate, Achieved: d.Rate, Duration: d.Hold,
			Samples: n, Failures: failures, Latency: 5 * time.Millisecond}, nil
	}
	res, err := controller.Run(context.Background(), auto, lim, time.Hour, step, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s after %d steps: %.0f req/s, limited by %s\n", res.Status, len(res.Steps), res.Capacity, res.LimitedBy)
	// Output: converged after 7 steps: 740 req/s, limited by fault
}
