package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/probe/probetest"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "find the capacity of a simulated target end to end",
		UsageText: `capfinder demo [--out DIR]

Starts a simulated service on loopback (4 workers, exponential 10 ms service
times: 400 req/s at most), finds its capacity under p99 ≤ 100 ms with the auto
search, writes the run and prints the answer with the replicas 1000 req/s
would need.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "run directory (default runs/<date>-<time>)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress lines"},
		},
		Action: func(c *cli.Context) error {
			q := probetest.NewQueue(probetest.QueueConfig{Workers: 4, ServiceTime: 10 * time.Millisecond, Seed: 1})
			srv, err := probetest.Serve(c.Context, "127.0.0.1:0", q)
			if err != nil {
				return err
			}
			defer srv.Close()
			fmt.Fprintf(c.App.Writer, "demo: simulated service at %s (4 workers × 10ms exponential, at most %.0f req/s)\n", srv.URL, q.Capacity())
			s := spec{
				URL: srv.URL + "/predict", Mode: "auto",
				MinQPS: 50, MaxQPS: 10000, QPSGrowthDelta: 50, AdjustInterval: time.Minute,
				StepDuration: 4 * time.Second, Precision: 0.02, Warmup: time.Second, Duration: 3 * time.Minute,
				MaxRT: 100 * time.Millisecond, RTQuantile: 0.99, FaultTolerate: 0.001, FaultAction: "revise",
				Arrival: "poisson", Burstiness: 1, Seed: 1, Timeout: 20 * time.Second,
				TargetQPS: 1000, Headroom: 0.3, Out: c.String("out"), Quiet: c.Bool("quiet"),
			}
			if err := s.check(); err != nil {
				return usageError("demo: %v", err)
			}
			sum, dir, err := execute(c.Context, s, c.App.Writer, c.App.ErrWriter)
			if err != nil {
				return err
			}
			printAnswer(c.App.Writer, sum, dir)
			fmt.Fprintf(c.App.Writer, "demo: see %s\n", filepath.Join(dir, "summary.json"))
			return interrupted(c, dir)
		},
	}
}
