package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/probe/probetest"
	"github.com/capfinder/capfinder/probe/rundir"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "find the capacity of a simulated LLM replica end to end",
		UsageText: `capfinder demo [--out DIR]

Starts a simulated LLM replica on loopback (continuous batching of up to 64
sequences, 10 ms decode steps plus 0.25 ms per running sequence, 20 µs of
prefill per prompt token), finds how many requests per second of 256 prompt and
64 output tokens it takes with time to first token p99 ≤ 500 ms, writes the run
and prints the answer with the replicas 300 req/s would need.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "run directory (default runs/<date>-<time>)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress lines"},
		},
		Action: func(c *cli.Context) error {
			const input, output = 256, 64
			llm := probetest.NewLLM(probetest.LLMConfig{Seed: 1})
			defer llm.Close()
			srv, err := probetest.Serve(c.Context, "127.0.0.1:0", llm)
			if err != nil {
				return err
			}
			defer srv.Close()
			fmt.Fprintf(c.App.Writer, "demo: simulated LLM replica at %s (batch of 64, at most %.1f req/s of %d+%d tokens)\n",
				srv.URL, llm.Config().Capacity(input, output), input, output)
			s := runner.Spec{
				URL: srv.URL, Mode: rundir.ModeAuto, API: rundir.APIOpenAIChat,
				Dataset: fmt.Sprintf("synthetic:input=%d,output=%d", input, output),
				MinQPS:  4, MaxQPS: 10000, QPSGrowthDelta: 50, AdjustInterval: time.Minute,
				StepDuration: 5 * time.Second, Precision: 0.03, Warmup: time.Second, Duration: 3 * time.Minute,
				MaxTTFT: 500 * time.Millisecond, RTQuantile: controller.DefaultQuantile, FaultTolerate: 0.001, FaultAction: rundir.FaultRevise,
				Arrival: rundir.ArrivalPoisson, Burstiness: 1, Seed: 1, Timeout: 20 * time.Second,
				TargetQPS: 300, Headroom: 0.3, Out: c.String("out"),
			}
			res, err := execute(c, s)
			if err != nil {
				return err
			}
			printAnswer(c.App.Writer, res.Summary, res.Dir)
			fmt.Fprintf(c.App.Writer, "demo: see %s\n", filepath.Join(res.Dir, rundir.SummaryJSON))
			return interrupted(c, res.Dir)
		},
	}
}
