package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/plots"
	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

func analyzeCommand() *cli.Command {
	return &cli.Command{
		Name:      "analyze",
		Usage:     "explain a recorded run again, optionally with other limits",
		ArgsUsage: "RUN_DIR",
		UsageText: `capfinder analyze [options] RUN_DIR

   capfinder analyze runs/20261123-041215                      # the run's own limits
   capfinder analyze --max-rt 50ms --out /tmp/strict runs/20261123-041215
   capfinder analyze --warmup 2s --rt-quantile 0.999 --max-rt 200ms RUN_DIR`,
		Description: `Reads every request of RUN_DIR back from Parquet, rebuilds its steps, judges
each again with the limits given (the run's own, from run.json, for those not
given), fits the latency curve and writes summary.json, plots/*.png|svg,
report.md and report.html into RUN_DIR, or into --out. No request is sent.`,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "max-rt", Usage: "latency limit at --rt-quantile (default: the run's)"},
			&cli.Float64Flag{Name: "rt-quantile", Usage: "quantile --max-rt applies to (default: the run's)"},
			&cli.Float64Flag{Name: "fault-tolerate", Usage: "error budget (default: the run's)"},
			&cli.Float64Flag{Name: "confidence", Usage: "how sure a step's verdict must be to count as conclusive (default: the run's)"},
			&cli.DurationFlag{Name: "max-ttft", Usage: "LLM: time-to-first-token limit at --rt-quantile (default: the run's)"},
			&cli.DurationFlag{Name: "max-tpot", Usage: "LLM: time-per-output-token limit at --rt-quantile (default: the run's)"},
			&cli.DurationFlag{Name: "warmup", Usage: "start of each step left out of its verdict (default: as the run judged)"},
			&cli.Float64Flag{Name: "target-qps", Usage: "load to size replicas for (default: the run's)"},
			&cli.Float64Flag{Name: "headroom", Usage: "fraction of a replica's capacity kept spare (default: the run's)"},
			&cli.Float64Flag{Name: "replica-cost", Usage: "price of a replica-hour, for the cost of the safe load (default: the run's)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed for the bootstrap interval"},
			&cli.StringFlag{Name: "out", Usage: "directory to write into (default: RUN_DIR)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("analyze: one RUN_DIR expected; e.g. capfinder analyze runs/20261123-041215")
			}
			dir := c.Args().First()
			info, err := readRunInfo("analyze", dir)
			if err != nil {
				return err
			}
			s := info.Spec
			src, err := store.Open(dir)
			if err != nil {
				return usageError("analyze: %s has no recorded requests (requests/part-*.parquet, requests/agent=*/part-*.parquet)", dir)
			}
			// The limits and sizing given replace the run's own.
			for name, set := range map[string]func(){
				"max-rt":         func() { s.MaxRT = c.Duration("max-rt") },
				"rt-quantile":    func() { s.RTQuantile = c.Float64("rt-quantile") },
				"fault-tolerate": func() { s.FaultTolerate = c.Float64("fault-tolerate") },
				"confidence":     func() { s.Confidence = c.Float64("confidence") },
				"max-ttft":       func() { s.MaxTTFT = c.Duration("max-ttft") },
				"max-tpot":       func() { s.MaxTPOT = c.Duration("max-tpot") },
				"target-qps":     func() { s.TargetQPS = c.Float64("target-qps") },
				"headroom":       func() { s.Headroom = c.Float64("headroom") },
				"replica-cost":   func() { s.ReplicaCost = c.Float64("replica-cost") },
				"seed":           func() { s.Seed = c.Uint64("seed") },
			} {
				if c.IsSet(name) {
					set()
				}
			}
			if err := s.Check(); err != nil {
				return usageError("analyze: %v", err)
			}
			warmup := c.Duration("warmup")
			if !c.IsSet("warmup") {
				warmup = -1
			} else if warmup < 0 {
				return usageError("analyze: --warmup must not be negative")
			}
			out := dir
			if c.IsSet("out") {
				out = c.String("out")
				if err := os.MkdirAll(out, 0o755); err != nil {
					return usageError("analyze: cannot create %s: %v", out, err)
				}
			}
			return explainRun(c, src, s, warmup, out)
		},
	}
}

// explainRun explains the run src holds with the limits and sizing of s,
// writes its summary.json, plots and reports into out and prints the
// answer: what analyze does, and merge once it gathered the agents'
// parts. warmup < 0 keeps the judged stretches the run recorded.
func explainRun(c *cli.Context, src rundir.Source, s rundir.Spec, warmup time.Duration, out string) error {
	a, err := analysis.Explain(src, s, warmup, recordedStatus(src.Dir()))
	if err != nil {
		return err
	}
	for _, skipped := range a.Run.Skipped {
		fmt.Fprintln(c.App.ErrWriter, "capfinder: warning:", skipped)
	}
	if err := rundir.WriteJSON(filepath.Join(out, rundir.SummaryJSON), a.Summary); err != nil {
		return err
	}
	if err := writeReport(out, a); err != nil {
		return err
	}
	printAnswer(c.App.Writer, a.Summary, out)
	return nil
}

// writeReport draws the plots of an explained run and writes its reports
// into out.
func writeReport(out string, a *analysis.Analysis) error {
	figs, err := plots.Render(filepath.Join(out, rundir.PlotsDir), a)
	if err != nil {
		return err
	}
	return analysis.WriteReport(out, a, figs)
}

// recordedStatus is how a recorded run's search ended, from the summary it
// wrote; Finished when it wrote none.
func recordedStatus(dir string) controller.Status {
	var prev rundir.Summary
	if rundir.ReadJSON(filepath.Join(dir, rundir.SummaryJSON), &prev) != nil {
		return controller.Finished
	}
	if st, ok := controller.ParseStatus(prev.Status); ok {
		return st
	}
	return controller.Finished
}

// readRunInfo reads the run.json of the run in dir: the configuration
// it was made with. Its errors are usage errors of command cmd.
func readRunInfo(cmd, dir string) (rundir.RunInfo, error) {
	var info rundir.RunInfo
	err := rundir.ReadJSON(filepath.Join(dir, rundir.RunJSON), &info)
	if errors.Is(err, os.ErrNotExist) {
		return info, usageError("%s: %s is not a run directory (no run.json)", cmd, dir)
	}
	if err != nil {
		return info, usageError("%s: %v", cmd, err)
	}
	return info, nil
}
