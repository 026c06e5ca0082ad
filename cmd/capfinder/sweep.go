package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/analysis/compare"
	"github.com/capfinder/capfinder/probe/rundir"
)

// sweepFile is a sweep: one workload, and the targets it runs against.
type sweepFile struct {
	// Out is the sweep directory; --out overrides it.
	Out string `json:"out"`
	// Run holds the options of `capfinder run` that every target shares,
	// by name without dashes: the workload, the limits, the search, the
	// seed.
	Run map[string]any `json:"run"`
	// Repeat runs each target this many times (default 1), to measure
	// the run-to-run noise.
	Repeat  int           `json:"repeat"`
	Targets []sweepTarget `json:"targets"`
}

// sweepTarget is one named target of a sweep.
type sweepTarget struct {
	Name          string            `json:"name"`
	URL           string            `json:"url"`
	Headers       map[string]string `json:"headers"`
	Model         string            `json:"model"`
	ReplicaCost   float64           `json:"replica_cost"`
	ServerMetrics string            `json:"server_metrics"`
}

// targetName is what a target may be called: a directory name.
var targetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// perTarget are the run options a sweep sets for each target itself.
var perTarget = []string{"out", "header", "H", "model", "replica-cost", "server-metrics", "config", "quiet", "q"}

// readSweep reads and checks a sweep file; every problem is one line
// naming what is wrong.
func readSweep(path string) (sweepFile, error) {
	var f sweepFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("%s: %v", path, err)
	}
	if f.Repeat == 0 {
		f.Repeat = 1
	}
	if f.Repeat < 1 {
		return f, fmt.Errorf("%s: repeat must be at least 1", path)
	}
	if len(f.Targets) == 0 {
		return f, fmt.Errorf("%s: no targets; list them under \"targets\"", path)
	}
	seen := map[string]bool{}
	for i, t := range f.Targets {
		switch {
		case !targetName.MatchString(t.Name):
			return f, fmt.Errorf("%s: target %d: name %q must be letters, digits, '.', '-' or '_' (it names its directory)", path, i+1, t.Name)
		case seen[t.Name]:
			return f, fmt.Errorf("%s: two targets are called %q", path, t.Name)
		case t.URL == "":
			return f, fmt.Errorf("%s: target %q has no url", path, t.Name)
		}
		seen[t.Name] = true
	}
	for k := range f.Run {
		if slices.Contains(perTarget, k) || k == "url" {
			return f, fmt.Errorf("%s: run.%s is set for each target by the sweep; give it in the target", path, k)
		}
	}
	return f, nil
}

// kept is the sweep as its directory keeps it, with the targets' secrets
// redacted as run.json's are.
func (f sweepFile) kept() ([]byte, error) {
	k := f
	k.Targets = slices.Clone(f.Targets)
	for i, t := range k.Targets {
		h := map[string][]string{}
		for name, v := range t.Headers {
			h[name] = []string{v}
		}
		red := rundir.Spec{URL: t.URL, ServerMetrics: t.ServerMetrics, Header: h}.Redacted()
		t.URL, t.ServerMetrics, t.Headers = red.URL, red.ServerMetrics, nil
		for name, vs := range red.Header {
			if t.Headers == nil {
				t.Headers = map[string]string{}
			}
			t.Headers[name] = vs[0]
		}
		k.Targets[i] = t
	}
	return json.MarshalIndent(k, "", "  ")
}

// args is the command line of target t's run into dir: the shared
// options first, then the target's own.
func (f sweepFile) args(t sweepTarget, dir string, quiet bool) ([]string, error) {
	args := []string{"capfinder", "run"}
	keys := make([]string, 0, len(f.Run))
	for k := range f.Run {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals, err := flagValues(f.Run[k])
		if err != nil {
			return nil, fmt.Errorf("run.%s: %v", k, err)
		}
		for _, v := range vals {
			args = append(args, "--"+k+"="+v)
		}
	}
	names := make([]string, 0, len(t.Headers))
	for k := range t.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "--header="+k+": "+t.Headers[k])
	}
	if t.Model != "" {
		args = append(args, "--model="+t.Model)
	}
	if t.ReplicaCost > 0 {
		args = append(args, "--replica-cost="+strconv.FormatFloat(t.ReplicaCost, 'f', -1, 64))
	}
	if t.ServerMetrics != "" {
		args = append(args, "--server-metrics="+t.ServerMetrics)
	}
	if quiet {
		args = append(args, "--quiet")
	}
	return append(args, "--out="+dir, "--", t.URL), nil
}

// flagValues turns a JSON value into a flag's values: a list repeats the
// flag.
func flagValues(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case float64:
		return []string{strconv.FormatFloat(v, 'f', -1, 64)}, nil
	case bool:
		return []string{strconv.FormatBool(v)}, nil
	case []any:
		var out []string
		for _, e := range v {
			s, err := flagValues(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("a string, number, boolean or list expected, not %v", v)
}

// runDirs are the run directories of target t: one, or one per repeat.
func (f sweepFile) runDirs(out string, t sweepTarget) []string {
	if f.Repeat == 1 {
		return []string{filepath.Join(out, t.Name)}
	}
	dirs := make([]string, f.Repeat)
	for i := range dirs {
		dirs[i] = filepath.Join(out, t.Name, strconv.Itoa(i+1))
	}
	return dirs
}

// finished reports whether dir holds a run that ended by itself (not one
// interrupted or killed), and whether it holds anything.
func finished(dir string) (done, exists bool) {
	if _, err := os.Stat(filepath.Join(dir, rundir.RunJSON)); err != nil {
		return false, false
	}
	var s rundir.Summary
	if rundir.ReadJSON(filepath.Join(dir, rundir.SummaryJSON), &s) != nil {
		return false, true
	}
	return s.Status != "stopped", true
}

// sweepJSON is the sweep file as the sweep directory keeps it, to check
// that a resumed sweep runs what it began with.
const sweepJSON = "sweep.json"

func sweepCommand() *cli.Command {
	return &cli.Command{
		Name:      "sweep",
		Usage:     "run one workload against several named targets, then compare them",
		ArgsUsage: "FILE",
		UsageText: `capfinder sweep [options] FILE

   capfinder sweep nightly.json                          # every target, then the comparison
   capfinder sweep --fail-on-regression 5 nightly.json   # exit 1 when a target regressed
   capfinder sweep --rerun vllm-0.10 nightly.json        # run one target again`,
		Description: `FILE is JSON: the options every run shares, by their names in 'capfinder run',
and the targets, each with a name, a URL and optionally headers (${VAR} taken
from the environment), a model, a replica cost and a server-metrics URL:

   {
     "out": "sweeps/nightly",
     "repeat": 1,
     "run": {"api": "openai-chat", "dataset": "synthetic:input=256,output=64",
             "max-ttft": "500ms", "seed": 7},
     "targets": [
       {"name": "vllm-0.9",  "url": "http://10.0.0.1:8000", "model": "llama"},
       {"name": "vllm-0.10", "url": "http://10.0.0.2:8000", "model": "llama",
        "headers": {"Authorization": "Bearer ${TOKEN}"}, "replica_cost": 2.5}
     ]
   }

The targets run one after another, with the same seed and settings, each into
OUT/NAME (OUT/NAME/1, OUT/NAME/2, ... with "repeat"). The first target is the
baseline of the comparison written to OUT/compare.{md,html,json}. A sweep that
was interrupted continues where it stopped: a target that finished is never
run again unless --rerun names it. With repeats, each target is compared by its
median run, and the spread of its capacities sets the noise floor.

Exit status: 0 done, 1 a target regressed beyond --fail-on-regression, 2 bad
usage or a bad sweep file, 3 a run could not be recorded, 130 interrupted
(rerun the same command to continue).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "sweep directory (default: the file's \"out\", or sweeps/<file name>)"},
			&cli.StringSliceFlag{Name: "rerun", Usage: "run this finished target again (repeatable; \"all\" for every one)"},
			&cli.Float64Flag{Name: "fail-on-regression", DefaultText: "off", Usage: "exit 1 when a target's capacity is lower than the baseline's by more than this many percent, and significantly"},
			&cli.Float64Flag{Name: "noise", DefaultText: "measured from repeats, else 4", Usage: "run-to-run noise floor in percent"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "comparison on stdout: text, md or json"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress lines from the runs"},
		},
		Action: sweep,
	}
}

func sweep(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("sweep: one FILE expected; e.g. capfinder sweep nightly.json")
	}
	path := c.Args().First()
	f, err := readSweep(path)
	if err != nil {
		return usageError("sweep: %v", err)
	}
	raw, err := f.kept()
	if err != nil {
		return err
	}
	out := c.String("out")
	if out == "" {
		out = f.Out
	}
	if out == "" {
		out = filepath.Join("sweeps", strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
	}
	if err := checkSweepDir(out, raw); err != nil {
		return err
	}
	rerun := c.StringSlice("rerun")
	for _, name := range rerun {
		if name != "all" && !slices.ContainsFunc(f.Targets, func(t sweepTarget) bool { return t.Name == name }) {
			return usageError("sweep: --rerun %s: no such target in %s", name, path)
		}
	}
	log := c.App.ErrWriter
	total := len(f.Targets) * f.Repeat
	n := 0
	for _, t := range f.Targets {
		again := slices.Contains(rerun, "all") || slices.Contains(rerun, t.Name)
		for _, dir := range f.runDirs(out, t) {
			n++
			done, exists := finished(dir)
			if done && !again {
				fmt.Fprintf(log, "sweep: %s (%d of %d) finished before; kept (--rerun %s runs it again)\n", dir, n, total, t.Name)
				continue
			}
			if exists {
				aside := fmt.Sprintf("%s.%s", dir, time.Now().Format("20060102-150405"))
				if err := os.Rename(dir, aside); err != nil {
					return err
				}
				fmt.Fprintf(log, "sweep: the earlier run of %s moved aside to %s\n", dir, aside)
			}
			args, err := f.args(t, dir, c.Bool("quiet"))
			if err != nil {
				return usageError("sweep: %s: %v", path, err)
			}
			fmt.Fprintf(log, "sweep: %s (%d of %d) against %s\n", dir, n, total, rundir.RedactURL(t.URL))
			// The runs' answers go with their progress, to stderr: stdout
			// is the comparison's.
			err = run(c.Context, log, log, args)
			if c.Context.Err() != nil {
				return cli.Exit(fmt.Sprintf("sweep interrupted during %s; run the same command again to continue with the targets still missing", dir), interruptedCode(c.Context))
			}
			var ec cli.ExitCoder
			if err != nil && (!errors.As(err, &ec) || ec.ExitCode() != exitVerdict) {
				return fmt.Errorf("sweep: %s: %w", dir, err)
			}
		}
	}
	return compareSweep(c, f, out)
}

// checkSweepDir creates the sweep directory, or checks that the one being
// resumed was begun with the same file.
func checkSweepDir(out string, raw []byte) error {
	keep := filepath.Join(out, sweepJSON)
	prev, err := os.ReadFile(keep)
	switch {
	case err == nil && !bytes.Equal(prev, raw):
		return usageError("sweep: %s was begun with other settings or targets (kept in %s); give another --out, or remove it to begin again", out, keep)
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return usageError("sweep: cannot create %s: %v", out, err)
	}
	return rundir.WriteFileAtomic(keep, func(w io.Writer) error {
		_, err := w.Write(raw)
		return err
	})
}

// compareSweep compares the sweep's targets, the first as the baseline,
// writes the comparison into out and prints it.
func compareSweep(c *cli.Context, f sweepFile, out string) error {
	var (
		runs []compare.Run
		reps []compare.Repeats
	)
	for _, t := range f.Targets {
		var all []compare.Run
		for _, dir := range f.runDirs(out, t) {
			r, err := loadRun(dir)
			if err != nil {
				return err
			}
			r.Name = t.Name
			all = append(all, r)
		}
		rep, mid := compare.Repeat(t.Name, all)
		if f.Repeat > 1 {
			reps = append(reps, rep)
		}
		runs = append(runs, mid)
	}
	opt := compare.Options{FailOnRegression: c.Float64("fail-on-regression") / 100, Repeats: reps}
	if noise, ok := compare.NoiseFloor(reps); ok {
		opt.Noise, opt.NoiseFrom = noise, "repeats"
	}
	if c.IsSet("noise") {
		opt.Noise, opt.NoiseFrom = c.Float64("noise")/100, "option"
	}
	if len(runs) == 1 {
		fmt.Fprintf(c.App.ErrWriter, "sweep: one target, nothing to compare; its run is in %s\n", runs[0].Dir)
		return nil
	}
	return writeComparison(c, runs, opt, out)
}
