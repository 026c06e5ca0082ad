package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

// listed is a run directory as `capfinder ls` shows it.
type listed struct {
	dir, start, target, mode, status, capacity, limit, control string
	started                                                    time.Time
}

// listRun reads what ls shows of the run in dir; false when dir holds no
// run.
func listRun(dir string) (listed, bool) {
	var info rundir.RunInfo
	if rundir.ReadJSON(filepath.Join(dir, rundir.RunJSON), &info) != nil {
		return listed{}, false
	}
	l := listed{dir: dir, start: info.Start.Local().Format("2006-01-02 15:04:05"), started: info.Start,
		target: rundir.RedactURL(info.Spec.URL), mode: string(info.Spec.Mode), capacity: "-", limit: "-"}
	var sum rundir.Summary
	hasSummary := rundir.ReadJSON(filepath.Join(dir, rundir.SummaryJSON), &sum) == nil
	if hasSummary {
		l.status = sum.Status
		if c := sum.Capacity; c.QPS > 0 {
			l.capacity = fmt.Sprintf("%s req/s", fmtRate(c.QPS))
		}
		if sum.Capacity.LimitedBy != "" {
			l.limit = sum.Capacity.LimitedBy
		}
	}
	var lk lock
	if rundir.ReadJSON(filepath.Join(dir, lockFile), &lk) == nil {
		if alive(lk.PID) {
			l.status = "running"
			if lk.Listen != "" {
				l.control = lk.Listen
			}
		} else {
			l.status = "died"
			if n := recordedParts(dir); n > 0 {
				l.status = fmt.Sprintf("died (%d parts recorded; capfinder analyze %s)", n, dir)
			}
		}
	} else if !hasSummary {
		l.status = "died (no summary)"
	}
	return l, true
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// recordedParts counts the request parts a run wrote, its agents' too.
func recordedParts(dir string) int {
	parts, _ := store.Parts(dir)
	return len(parts)
}

func lsCommand() *cli.Command {
	return &cli.Command{
		Name:      "ls",
		Usage:     "list the runs under a directory: start, target, mode, status, capacity",
		ArgsUsage: "[DIR]",
		UsageText: "capfinder ls [DIR]\n\n   capfinder ls              # the runs under runs/\n   capfinder ls sweeps/nightly",
		Description: `Every directory under DIR (default runs/, searched two levels deep) that holds
a run: when it started, its target (secrets redacted), mode, status (converged,
stopped, running, died, ...), capacity and the limit that set it. A running run
shows the address its dashboard and controls listen on (capfinder update and
capfinder stop take it); one whose process is gone without finishing is "died".`,
		Action: func(c *cli.Context) error {
			root := "runs"
			if c.NArg() > 0 {
				root = c.Args().First()
			}
			if _, err := os.Stat(root); err != nil {
				return usageError("ls: %v", err)
			}
			var runs []listed
			for _, pattern := range []string{"*", "*/*"} {
				dirs, _ := filepath.Glob(filepath.Join(root, pattern))
				for _, d := range dirs {
					if l, ok := listRun(d); ok {
						runs = append(runs, l)
					}
				}
			}
			if l, ok := listRun(root); ok {
				runs = append(runs, l)
			}
			sort.Slice(runs, func(i, j int) bool { return runs[i].started.Before(runs[j].started) })
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "START\tRUN\tTARGET\tMODE\tSTATUS\tCAPACITY\tLIMIT\tCONTROL")
			for _, l := range runs {
				ctl := l.control
				if ctl == "" {
					ctl = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.start, l.dir, l.target, l.mode, l.status, l.capacity, l.limit, ctl)
			}
			tw.Flush()
			if len(runs) == 0 {
				fmt.Fprintf(c.App.ErrWriter, "capfinder: no runs under %s\n", root)
			}
			return nil
		},
	}
}
