package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/probe/rundir/store"
)

func mergeCommand() *cli.Command {
	return &cli.Command{
		Name:      "merge",
		Usage:     "gather into a run the records of agents that wrote directories of their own, and explain it",
		ArgsUsage: "RUN_DIR AGENT_DIR...",
		UsageText: `capfinder merge RUN_DIR AGENT_DIR...

   capfinder merge runs/20261123-041215 agent-0 agent-1 agent-2
   capfinder merge runs/20261123-041215 /mnt/agents/*     # again as agents come in`,
		Description: `A run sent by agents (capfinder run --agents N) that did not share its
directory has its records in the agents' own directories: each agent wrote
AGENT_DIR/agent.json and AGENT_DIR/requests/agent=<i>/part-*.parquet. merge
copies every agent's parts into RUN_DIR/requests/agent=<i>/, each written whole
or not at all, then explains the run as capfinder analyze does, with the run's
own limits: summary.json, the plots and the reports count every agent's
requests, and say whether an arrival was recorded twice or not at all.

Nothing is copied when an AGENT_DIR is of another run (its run_id is not the
one in RUN_DIR/run.json), has an index outside the run's agents or one given
twice, or has parts that differ from those RUN_DIR already holds for its index.
Parts already there and identical are kept, so merge may be run again.`,
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return usageError("merge: a RUN_DIR and at least one AGENT_DIR expected; e.g. capfinder merge runs/20261123-041215 agent-0 agent-1")
			}
			dir, agents := c.Args().First(), c.Args().Tail()
			info, err := readRunInfo("merge", dir)
			if err != nil {
				return err
			}
			if info.Fleet == nil {
				return usageError("merge: %s was not sent by agents (its run.json has no fleet): there is nothing to gather", dir)
			}
			gathered, err := store.Gather(dir, *info.Fleet, agents)
			var refused *store.GatherError
			if errors.As(err, &refused) {
				return usageError("merge: %s: %s; nothing was copied", refused.Dir, refused.Why)
			}
			if err != nil {
				return err
			}
			w := c.App.Writer
			for _, g := range gathered {
				fmt.Fprintf(w, "agent %d: %d parts, %d rows from %s", g.Agent.Index, g.Parts, g.Rows, g.Dir)
				switch {
				case g.Copied == g.Parts:
				case g.Copied == 0:
					fmt.Fprint(w, " (already in the run)")
				default:
					fmt.Fprintf(w, " (%d copied, %d already in the run)", g.Copied, g.Parts-g.Copied)
				}
				if g.Damaged > 0 {
					fmt.Fprintf(w, "; %d without a readable footer, read as far as they go", g.Damaged)
				}
				fmt.Fprintln(w)
			}
			missing, err := store.MissingAgents(dir, info.Fleet.Agents)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "agents: %d of %d have parts in %s", info.Fleet.Agents-len(missing), info.Fleet.Agents, dir)
			if len(missing) > 0 {
				names := make([]string, len(missing))
				for i, a := range missing {
					names[i] = strconv.Itoa(a)
				}
				fmt.Fprintf(w, "; none yet from agent %s", strings.Join(names, ", "))
			}
			fmt.Fprintln(w)
			src, err := store.Open(dir)
			if err != nil {
				return usageError("merge: %v", err)
			}
			return explainRun(c, src, info.Spec, -1, dir)
		},
	}
}
