package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe"
	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

// AgentOptions are what an agent needs before its coordinator gives it a
// plan.
type AgentOptions struct {
	// Coordinator is the coordinator's address, host:port.
	Coordinator string
	// Index is the agent's place among the run's agents, from 0.
	Index int
	// Out is the directory its parts go to, under requests/agent=<i>/:
	// the run directory when it is shared, else the agent's own, with an
	// agent.json that capfinder merge reads.
	Out     string
	Version string
	// Dial is how long to keep trying to reach the coordinator; default
	// five minutes, for a coordinator whose pod is still starting.
	Dial time.Duration
	// Log, when set, is told what the agent does.
	Log func(format string, args ...any)
}

// RunAgent takes an agent's part in a run: it connects to the
// coordinator, takes its plan and runs each step it is sent, answering
// with the step's window, until it is told to stop. It returns once its
// records are closed: after stop, when the coordinator is lost, or when
// ctx ends.
func RunAgent(ctx context.Context, opt AgentOptions) error {
	logf := opt.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	conn, err := dialRetry(ctx, opt.Coordinator, opt.Dial)
	if err != nil {
		return err
	}
	defer conn.Close()
	p := newPeer(conn)
	host, _ := os.Hostname()
	if err := p.send(message{Kind: "hello", Index: opt.Index, Version: opt.Version, Host: host}); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	var plan *agentPlan
	for plan == nil {
		m, err := p.read()
		if err != nil {
			return fmt.Errorf("agent: the coordinator at %s did not send a plan: %w", opt.Coordinator, err)
		}
		switch m.Kind {
		case "ping":
			err = p.send(message{Kind: "pong", Sent: m.Sent, Wall: time.Now().UnixNano()})
		case "refused":
			return fmt.Errorf("agent %d: refused by the coordinator: %s", opt.Index, m.Error)
		case "plan":
			plan = m.Plan
		}
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
	}
	a, err := newAgent(*plan, opt)
	if err != nil {
		p.send(message{Kind: "ready", Error: err.Error()})
		return err
	}
	if err := p.send(message{Kind: "ready"}); err != nil {
		a.stop()
		return fmt.Errorf("agent: %w", err)
	}
	logf("agent %d of %d: run %s, parts in %s", plan.Index, plan.Agents, plan.RunID, a.dir)
	done := make(chan struct{})
	defer close(done)
	go p.serve(done)
	go a.sendSeconds(p, done)
	return a.serve(ctx, p, logf)
}

// dialRetry connects to addr, trying again for up to wait: an agent may
// start before its coordinator listens.
func dialRetry(ctx context.Context, addr string, wait time.Duration) (net.Conn, error) {
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("agent: no coordinator at %s within %v: %w", addr, wait, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// agent is an engine taking its share of a run, and its records.
type agent struct {
	plan agentPlan
	dir  string
	eng  *probe.Engine
	rec  *store.Recorder
	// seconds are the run's seconds as they end, for the coordinator.
	seconds chan rundir.Second
}

// newAgent makes the engine of a plan: the spec's client and payloads,
// sized as the coordinator calibrated them, on the run's clock, sending
// the arrivals of the agent's residue.
func newAgent(plan agentPlan, opt AgentOptions) (*agent, error) {
	s := plan.Spec
	s.Body, s.DataBase64 = plan.Body, plan.DataBase64
	if plan.Geometry != geometry() {
		return nil, fmt.Errorf("agent: histograms of geometry %v, the coordinator's are %v: run the same capfinder version everywhere", geometry(), plan.Geometry)
	}
	if err := s.Check(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	client, err := newClient(s)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	src, _, err := newSource(s)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if sized, ok := src.(datasets.Sized); ok && plan.Scale != nil {
		sized.SetScale(*plan.Scale)
	}
	sched, err := probe.NewSchedule(string(s.Arrival), s.Burstiness, s.Seed)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	dir := opt.Out
	if dir == "" {
		dir = filepath.Join("runs", fmt.Sprintf("%s-agent-%d", plan.RunID, plan.Index))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	// The run's clock: its zero, given in this machine's wall clock, kept
	// with a monotonic reading.
	now := time.Now()
	clock := probe.ClockAt(now.Add(-time.Duration(now.UnixNano() - plan.Zero)))
	if _, err := os.Stat(filepath.Join(dir, rundir.RunJSON)); err != nil {
		// The agent's own directory, not the run's: what capfinder merge
		// needs to gather it.
		info := rundir.AgentInfo{RunID: plan.RunID, Index: plan.Index, Agents: plan.Agents, Coordinator: opt.Coordinator, Start: clock.Zero().UTC()}
		if err := rundir.WriteJSON(filepath.Join(dir, rundir.AgentJSON), info); err != nil {
			return nil, err
		}
	}
	rec, err := store.NewRecorder(dir, store.RecorderOptions{Subdir: rundir.AgentDir(plan.Index), Metadata: partMeta(s, opt.Version, clock)})
	if err != nil {
		return nil, err
	}
	seconds := make(chan rundir.Second, 4)
	eng, err := probe.NewEngine(probe.EngineConfig{
		OnSecond: func(s rundir.Second) {
			select {
			case seconds <- s:
			default:
			}
		},
		SecondHists: true,
		Client:      client, Source: src, Schedule: sched, Writer: rec, Clock: clock,
		MaxInFlight: bound(s.Concurrency, plan.Agents, plan.Index),
		Judging:     analysis.Judging(analysis.LimitsOf(s), s.Streams()),
		Agent:       int32(plan.Index), Shard: probe.Shard{Index: plan.Index, Of: plan.Agents},
		Drain: s.Timeout + time.Second,
	})
	if err != nil {
		rec.Close()
		return nil, err
	}
	eng.Start()
	return &agent{plan: plan, dir: dir, eng: eng, rec: rec, seconds: seconds}, nil
}

// serve runs what the coordinator sends until it says stop, or is lost.
func (a *agent) serve(ctx context.Context, p *peer, logf func(string, ...any)) error {
	var (
		cut     context.CancelFunc = func() {}
		replies                    = make(chan message, 1)
		busy    bool
	)
	defer func() { cut() }()
	for {
		select {
		case m := <-p.in:
			switch m.Kind {
			case "step":
				if m.Load == nil || busy {
					// The coordinator never sends a step before the last
					// answer: one that does has lost track of this agent.
					p.send(message{Kind: "window", Error: "a step while another request is under way"})
					continue
				}
				stepCtx, stepCut := context.WithCancel(ctx)
				cut = stepCut
				busy = true
				go func(l probe.Load) {
					w, err := a.eng.Step(stepCtx, l)
					reply := message{Kind: "window"}
					if w == nil {
						reply.Error = fmt.Sprint(err)
					} else if reply.Window, err = windowOf(w, err); err != nil {
						reply.Error = err.Error()
					}
					replies <- reply
				}(*m.Load)
			case "cut":
				cut()
			case "pause":
				pauseCtx, pauseCut := context.WithCancel(ctx)
				cut, busy = pauseCut, true
				go func(wait time.Duration) {
					replies <- message{Kind: "paused", Wait: a.eng.Pause(pauseCtx, wait)}
				}(m.Wait)
			case "stop":
				a.settle(cut, busy, replies)
				tot, err := a.stop()
				reply := message{Kind: "stopped", Totals: &tot}
				if err != nil {
					reply.Error = err.Error()
				}
				p.send(reply)
				logf("agent %d: stopped: %d sent, %d recorded", a.plan.Index, tot.Sent, tot.Recorded)
				return err
			}
		case r := <-replies:
			busy = false
			if err := p.send(r); err != nil {
				a.stop()
				return fmt.Errorf("agent %d: the coordinator was lost: %w", a.plan.Index, err)
			}
		case <-p.dead:
			a.settle(cut, busy, replies)
			a.stop()
			return fmt.Errorf("agent %d: the coordinator was lost (%v); its records are in %s", a.plan.Index, p.err, a.dir)
		case <-ctx.Done():
			a.settle(cut, busy, replies)
			a.stop()
			return ctx.Err()
		}
	}
}

// sendSeconds sends the coordinator each second of the run as it ends,
// until done.
func (a *agent) sendSeconds(p *peer, done <-chan struct{}) {
	for {
		select {
		case s := <-a.seconds:
			if w, err := secondOf(s); err == nil && p.send(message{Kind: "second", Second: w}) != nil {
				return
			}
		case <-done:
			return
		}
	}
}

// settle cuts the step running, if any, and waits for it to end: the
// engine takes one call at a time.
func (a *agent) settle(cut context.CancelFunc, busy bool, replies <-chan message) {
	cut()
	if busy {
		<-replies
	}
}

// stop stops the engine and closes the records.
func (a *agent) stop() (probe.Totals, error) {
	tot, err := a.eng.Stop()
	return tot, errors.Join(err, a.rec.Close())
}
