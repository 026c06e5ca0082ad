package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/analysis/compare"
	"github.com/capfinder/capfinder/plots"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

// compareCommand returns `capfinder compare`.
func compareCommand() *cli.Command {
	return &cli.Command{
		Name:      "compare",
		Usage:     "compare recorded runs with a baseline: better, worse or no significant change",
		ArgsUsage: "BASELINE_DIR RUN_DIR...",
		UsageText: `capfinder compare [options] BASELINE_DIR RUN_DIR...

   capfinder compare runs/vllm-0.9 runs/vllm-0.10                 # a table for the terminal
   capfinder compare --out cmp runs/base runs/a runs/b             # cmp/compare.html with the overlays
   capfinder compare --fail-on-regression 5 runs/nightly-base runs/nightly-today   # exit 1 on a regression`,
		Description: `The first run is the baseline; every other is compared with it. Each figure
gets a verdict from the runs' own evidence: the capacity lies between the last
load that held and the first that broke (or the fitted curve's interval);
latency, and TTFT and TPOT for LLM runs, are read at a load both runs measured
from each run's fitted curve, with an interval from a bootstrap over the
requests within its steps; knee, saturation, goodput and tokens/s are points.
Each range is widened by a run-to-run noise floor (--noise, default 4 %, twice
the search's precision; a sweep with repeats measures it). A difference is
significant only when the ranges do not overlap; "~" otherwise. The server's
metrics at each capacity are told without a verdict. Runs with different
limits, workloads or APIs are refused (--force compares them anyway, with a
warning).

Exit status: 0 done, 1 a candidate's capacity regressed beyond
--fail-on-regression, 2 bad usage or runs that cannot be compared.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text, md or json"},
			&cli.Float64Flag{Name: "fail-on-regression", DefaultText: "off", Usage: "exit 1 when a candidate's capacity is lower than the baseline's by more than this many percent, and significantly"},
			&cli.Float64Flag{Name: "noise", Value: 100 * compare.DefaultNoise, Usage: "run-to-run noise floor, in percent, that widens every range (a sweep with repeats measures it)"},
			&cli.BoolFlag{Name: "force", Usage: "compare runs of different limits, workloads or APIs, with a warning"},
			&cli.StringFlag{Name: "out", Usage: "also write compare.md, compare.html (self-contained), compare.json and plots/ (overlays) into this directory"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return usageError("compare: a baseline and at least one run expected; e.g. capfinder compare runs/base runs/new")
			}
			var runs []compare.Run
			for _, dir := range c.Args().Slice() {
				r, err := loadRun(dir)
				if err != nil {
					return usageError("%v", err)
				}
				runs = append(runs, r)
			}
			opt := compare.Options{FailOnRegression: c.Float64("fail-on-regression") / 100, Force: c.Bool("force")}
			if c.IsSet("noise") {
				opt.Noise, opt.NoiseFrom = c.Float64("noise")/100, "option"
			}
			return writeComparison(c, runs, opt, c.String("out"))
		},
	}
}

// writeComparison compares runs, writes the comparison into out (when
// set) and prints it in the format asked for; exit 1 when a candidate
// regressed. compare and sweep share it, with the flags format, noise,
// fail-on-regression.
func writeComparison(c *cli.Context, runs []compare.Run, opt compare.Options, out string) error {
	if n := opt.Noise; opt.NoiseFrom == "option" && !(n > 0 && n < 1) {
		return usageError("%s: --noise must be a percentage between 0 and 100", c.Command.Name)
	}
	cmp, err := compare.Compare(runs, opt)
	if err != nil {
		return usageError("%v", err)
	}
	if out != "" {
		figs, err := plots.RenderComparison(filepath.Join(out, "plots"), runs)
		if err != nil {
			return err
		}
		if err := cmp.WriteReport(out, figs); err != nil {
			return err
		}
	}
	switch c.String("format") {
	case "text":
		cmp.WriteText(c.App.Writer)
	case "md":
		cmp.WriteMarkdown(c.App.Writer)
	case "json":
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if err := enc.Encode(cmp); err != nil {
			return err
		}
	default:
		return usageError("%s: unknown --format %q (want text, md or json)", c.Command.Name, c.String("format"))
	}
	if out != "" {
		fmt.Fprintf(c.App.ErrWriter, "comparison: %s\n", filepath.Join(out, "compare.html"))
	}
	if cmp.Regressed() {
		return cli.Exit(fmt.Sprintf("capacity regressed by more than --fail-on-regression %g %%", c.Float64("fail-on-regression")), exitVerdict)
	}
	return nil
}

// loadRun reads a recorded run for a comparison: its summary, and its
// requests when it kept them.
func loadRun(dir string) (compare.Run, error) {
	r, err := compare.Load(dir)
	if err != nil {
		return r, err
	}
	src, err := store.Open(dir)
	if err != nil {
		return r, nil
	}
	return r, r.Read(src)
}
