package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/cmd/capfinder/dashboard"
	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/probe/rundir"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "find the capacity of a service, or hold a fixed load, recording every request",
		ArgsUsage: "URL",
		UsageText: `capfinder run [options] URL

   capfinder run --max-rt 100ms http://127.0.0.1:8080/predict          # auto: find capacity under p99 ≤ 100ms
   capfinder run --mode scan --min-qps 100 --qps-growth-delta 50 --adjust-interval 30s URL
   capfinder run --mode rate --rate 200 --duration 1m URL               # fixed open-loop rate
   capfinder run --mode concurrency --concurrency 16 --requests 5000 URL
   capfinder run -H 'Authorization: Bearer ${TOKEN}' --body @request.json URL  # header from the environment
   capfinder run --data-file reqs.zip --data-order random URL           # every file in the zip, seeded order
   capfinder run --data-file requests.txt --multi-line URL              # one request per line
   capfinder run --config bench_desc.json                               # an EAS config with service.url
   capfinder run --profile ramp.json URL                                # planned stages: rates, ramps, stairs
   capfinder run --agents 2 --spawn --max-rt 100ms URL                  # two agent processes share one schedule
   capfinder run --spec runs/20261130-140211/run.json                   # a recorded run's spec, again`,
		Description: `Offers load in steps, judges each against the limits (--max-rt at --rt-quantile,
--fault-tolerate, --max-qps) and decides the next step: auto grows geometrically,
bisects between the last passing and first failing rate, and confirms; scan adds
--qps-growth-delta every --adjust-interval as EAS does. Latency is measured from
the time each request was scheduled. Every request is written to
RUN_DIR/requests/*.parquet (an agent's to requests/agent=<i>/);
RUN_DIR/summary.json holds the answer. With --agents N the run coordinates
N agents (capfinder agent, or --spawn) that send the load between them.

Exit status: 0 done, 1 capacity under --fail-below, 2 bad usage or input,
3 the run could not be recorded, 130 interrupted (the partial run is written).`,
		Flags: runFlags(),
		Action: func(c *cli.Context) error {
			s, err := specFromFlags(c)
			if err != nil {
				return err
			}
			res, err := execute(c, s)
			if err != nil {
				return err
			}
			printAnswer(c.App.Writer, res.Summary, res.Dir)
			if err := interrupted(c, res.Dir); err != nil {
				return err
			}
			if s.FailBelow > 0 && res.Summary.Capacity.QPS < s.FailBelow {
				return cli.Exit(fmt.Sprintf("capacity %.4g req/s is under --fail-below %.4g", res.Summary.Capacity.QPS, s.FailBelow), exitVerdict)
			}
			return nil
		},
	}
}

// execute runs s through the runner, printing its progress on stderr
// unless --quiet, and draws the report of a run that ended by itself.
func execute(c *cli.Context, s runner.Spec) (runner.Result, error) {
	abort, _ := c.Context.Value(abortKey{}).(<-chan struct{})
	if addr := c.String("listen"); addr != "" {
		if err := checkListen(addr, c.Bool("listen-public")); err != nil {
			return runner.Result{}, err
		}
	}
	fleet, err := fleetOf(c)
	if err != nil {
		return runner.Result{}, err
	}
	r, err := runner.New(s, runner.Options{Version: version, Abort: abort, Fleet: fleet})
	if err != nil {
		if fleet != nil {
			fleet.Listener.Close()
		}
		return runner.Result{}, usageError("run: %v", err)
	}
	if fleet != nil && c.Bool("spawn") {
		agents, err := spawnAgents(fleet, r.Dir())
		if err != nil {
			return runner.Result{}, err
		}
		// Stopped agents end by themselves; a lost coordinator's within
		// their silence limit.
		defer agents.wait(time.Minute)
	}
	// The dashboard and `capfinder stop` end the run as Ctrl-C does.
	parent := c.Context
	ctx, cancel := context.WithCancelCause(parent)
	c.Context = ctx
	defer func() {
		// A run stopped remotely keeps its cancelled context, which
		// says it was interrupted.
		if ctx.Err() == nil {
			c.Context = parent
		}
		cancel(nil)
	}()
	var dash *dashboardServer
	if addr := c.String("listen"); addr != "" {
		if dash, err = startDashboard(c, r, addr, c.Bool("listen-public"), func() { cancel(errStoppedRemotely) }); err != nil {
			os.RemoveAll(r.Dir())
			return runner.Result{}, err
		}
		defer dash.close()
	}
	writeLock(r.Dir(), c.String("listen"))
	defer os.Remove(filepath.Join(r.Dir(), lockFile))
	p := newProgress(c.App.ErrWriter, c.Bool("quiet"), r.Spec())
	var done runner.Done
	for ev := range r.Run(ctx) {
		if dash != nil {
			dash.hub.Event(ev)
		}
		switch ev := ev.(type) {
		case runner.Tick:
			p.tick(ev.Second)
		case runner.Started:
			p.start(ev)
		case runner.Calibrated:
			p.calibrated(ev.Calibration)
		case runner.Drained:
			p.pause(ev.Waited)
		case runner.AgentJoined:
			p.printf("capfinder: agent %d joined from %s (its clock %+v, ±%v)\n", ev.Index, ev.Addr, ev.Offset.Round(time.Microsecond), ev.Error.Round(time.Microsecond))
		case runner.Judged:
			p.step(ev.Step, ev.Stats)
		case runner.Done:
			done = ev
		}
	}
	p.clear()
	res := done.Result
	if done.Err != nil {
		if dash != nil {
			dash.hub.Finish(dashboard.End{State: "failed", Answer: done.Err.Error()})
		}
		return res, done.Err
	}
	if c.Context.Err() != nil {
		// After Ctrl-C only summary.json is written, so the run ends at
		// once; `capfinder analyze` draws the rest.
		p.interrupted()
		if dash != nil {
			dash.hub.Finish(dashboard.End{State: "interrupted", Summary: filepath.Join(res.Dir, rundir.SummaryJSON), Analyze: "capfinder analyze " + res.Dir})
		}
		return res, nil
	}
	if res.Analysis != nil {
		err = writeReport(res.Dir, res.Analysis)
	}
	if dash != nil {
		dash.hub.Finish(dashboard.End{State: "done", Answer: answerLine(res.Summary),
			Summary: filepath.Join(res.Dir, rundir.SummaryJSON), Report: filepath.Join(res.Dir, "report.html")})
	}
	return res, err
}

// interrupted is the error of a command whose run was cut short by
// Ctrl-C, nil otherwise.
func interrupted(c *cli.Context, dir string) error {
	if c.Context.Err() == nil {
		return nil
	}
	return cli.Exit("interrupted; the partial run is in "+dir, interruptedCode(c.Context))
}
