package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/controller/runner"
)

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "take a share of a run's load, for a coordinator (capfinder run --agents N)",
		UsageText: `capfinder agent --coordinator HOST:PORT [--index I] [--out DIR]

   capfinder run --agents 2 --agent-listen :7070 --max-rt 100ms http://10.0.0.5:8080/
   capfinder agent --coordinator 10.0.0.2:7070 --index 0     # on one machine
   capfinder agent --coordinator 10.0.0.2:7070 --index 1     # on another
   capfinder agent --coordinator run-coordinator:7070 --out /runs/r1   # index from JOB_COMPLETION_INDEX`,
		Description: `An agent connects to the coordinator, takes its plan (the run's spec, its index
and the run's clock) and sends the arrivals of one shared schedule whose number
is its index modulo the number of agents, step by step as the coordinator says.
It answers each step with its statistics, which the coordinator merges and
judges. Its records go to DIR/requests/agent=<i>/: give the run directory when
it is shared (a volume), else its own directory, which capfinder merge gathers
into the run afterwards. It never rejoins a run that began without it, and it
ends, keeping what it recorded, when the coordinator falls silent.

Exit status: 0 done, 2 bad usage, 3 refused, or the coordinator was lost.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "coordinator", Usage: "the coordinator's address, HOST:PORT (its --agent-listen)"},
			&cli.IntFlag{Name: "index", Value: -1, Usage: "this agent's index, from 0 (default: $JOB_COMPLETION_INDEX, set by a Kubernetes Indexed Job)"},
			&cli.StringFlag{Name: "out", Usage: "directory for the records (default runs/<run>-agent-<i>)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress lines"},
		},
		Action: func(c *cli.Context) error {
			addr := c.String("coordinator")
			if addr == "" {
				return usageError("agent: --coordinator is required")
			}
			index := c.Int("index")
			if index < 0 {
				v, ok := os.LookupEnv("JOB_COMPLETION_INDEX")
				n, err := strconv.Atoi(v)
				if !ok || err != nil || n < 0 {
					return usageError("agent: give --index, or run as an Indexed Job (JOB_COMPLETION_INDEX)")
				}
				index = n
			}
			opt := runner.AgentOptions{Coordinator: addr, Index: index, Out: c.String("out"), Version: version}
			if !c.Bool("quiet") {
				opt.Log = func(format string, args ...any) { fmt.Fprintf(c.App.ErrWriter, "capfinder: "+format+"\n", args...) }
			}
			if err := runner.RunAgent(c.Context, opt); err != nil {
				if c.Context.Err() != nil {
					return cli.Exit("agent interrupted", interruptedCode(c.Context))
				}
				return cli.Exit(err.Error(), exitFailed)
			}
			return nil
		},
	}
}

// fleetOf is the fleet a run's flags ask for: nil without --agents, else
// agents connecting to --agent-listen (with --spawn, loopback on a free
// port when none is given).
func fleetOf(c *cli.Context) (*runner.Fleet, error) {
	n := c.Int("agents")
	switch {
	case n == 0 && (c.IsSet("agent-listen") || c.Bool("spawn")):
		return nil, usageError("run: --agent-listen and --spawn need --agents N")
	case n == 0:
		return nil, nil
	case n < 0:
		return nil, usageError("run: --agents %d: want a positive number", n)
	}
	addr := c.String("agent-listen")
	if addr == "" {
		if !c.Bool("spawn") {
			return nil, usageError("run: --agents needs --agent-listen ADDR for the agents to connect to, or --spawn")
		}
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageError("run: --agent-listen: %v", err)
	}
	return &runner.Fleet{Agents: n, Listener: ln}, nil
}

// spawned are agents started as processes of this machine.
type spawned struct{ procs []*exec.Cmd }

// spawnAgents starts f's agents as processes of this binary, connecting
// to its listener and writing into dir; each one's output goes to
// dir/agent-<i>.log.
func spawnAgents(f *runner.Fleet, dir string) (*spawned, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s := &spawned{}
	for i := range f.Agents {
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("agent-%d.log", i)))
		if err != nil {
			s.kill()
			return nil, err
		}
		cmd := exec.Command(exe, "agent", "--coordinator", f.Listener.Addr().String(), "--index", strconv.Itoa(i), "--out", dir)
		cmd.Stdout, cmd.Stderr = log, log
		err = cmd.Start()
		log.Close()
		if err != nil {
			s.kill()
			return nil, fmt.Errorf("run: starting agent %d: %w", i, err)
		}
		s.procs = append(s.procs, cmd)
	}
	return s, nil
}

// wait waits for the agents to end, as they do once stopped, and kills
// those still running after grace.
func (s *spawned) wait(grace time.Duration) {
	done := make(chan struct{})
	go func() {
		for _, p := range s.procs {
			p.Wait()
		}
		close(done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		s.kill()
		<-done
	}
}

func (s *spawned) kill() {
	for _, p := range s.procs {
		if p.Process != nil {
			p.Process.Kill()
		}
	}
}
