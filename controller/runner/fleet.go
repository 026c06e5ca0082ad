package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe"
	"github.com/capfinder/capfinder/probe/rundir"
)

// A run sent by several generators has one coordinator, which runs the
// controller, and N agents, which run engines. Each agent keeps one TCP
// connection to the coordinator, over which they exchange messages, one
// JSON object a line:
//
//	agent → coordinator   hello, pong, ready, window, paused, stopped, beat
//	coordinator → agent   ping, refused, plan, step, cut, pause, stop, beat
//
// The coordinator places each agent's clock (ping, pong), sends its plan
// (the spec, the agent's index, the clock's zero in the agent's own wall
// clock, the histograms' geometry), then each step's load with the time it
// takes effect. Each agent answers a step with its window: counts and
// histograms in HdrHistogram's V2 encoding, merged by the coordinator with
// the accumulator one machine uses. Both send a beat every second; a
// connection silent for agentSilence is a lost agent, or a lost
// coordinator.

// Fleet makes a run a coordinator: Agents agents connect to Listener and
// send the load; the run itself sends only its calibration.
type Fleet struct {
	Agents   int
	Listener net.Listener
	// Wait is how long the run waits for all its agents; default 2 min.
	Wait time.Duration
}

const (
	// agentSilence is how long a connection may stay silent (beats come
	// every second) before its other end is taken for lost.
	agentSilence = 5 * time.Second
	beatEvery    = time.Second
	// stepLead is how far ahead of its message a step begins, at least,
	// so that every agent has it in time: the arrivals due meanwhile are
	// dropped. Four slowest half round trips are added.
	stepLead = 5 * time.Millisecond
	// maxClockError is the most a clock may be misplaced by, half the
	// shortest round trip of its pings: a step's windows are judged on
	// one clock, and a warm-up is a second.
	maxClockError = 10 * time.Millisecond
	clockPings    = 8
)

// message is one line of the protocol; Kind says which fields it uses.
type message struct {
	Kind string `json:"kind"`
	// hello
	Index   int    `json:"index,omitempty"`
	Version string `json:"version,omitempty"`
	Host    string `json:"host,omitempty"`
	// ping and pong: the coordinator's wall clock when it sent the ping,
	// and the agent's when it answered.
	Sent int64      `json:"sent,omitempty"`
	Wall int64      `json:"wall,omitempty"`
	Plan *agentPlan `json:"plan,omitempty"`
	// step: the agent's share of the load.
	Load *probe.Load `json:"load,omitempty"`
	// window: the agent's statistics of the step.
	Window *wireWindow `json:"window,omitempty"`
	// pause: the longest to wait; paused: how long it waited.
	Wait time.Duration `json:"wait,omitempty"`
	// stopped: the agent's counts.
	Totals *probe.Totals `json:"totals,omitempty"`
	// second: a second of the agent's run as it went.
	Second *wireSecond `json:"second,omitempty"`
	// refused, or an error in a reply.
	Error string `json:"error,omitempty"`
}

// agentPlan is what an agent needs to take its share of a run.
type agentPlan struct {
	RunID  string `json:"run_id"`
	Spec   Spec   `json:"spec"`
	Index  int    `json:"index"`
	Agents int    `json:"agents"`
	// Zero is the run clock's zero in the agent's wall clock, Unix ns.
	Zero int64 `json:"zero"`
	// Body and DataBase64 are the spec's, which its JSON leaves out.
	Body       string `json:"body,omitempty"`
	DataBase64 string `json:"data_base64,omitempty"`
	// Scale sizes the prompts as the coordinator's calibration fitted.
	Scale *datasets.Scale `json:"scale,omitempty"`
	// Geometry is the latency histograms' lowest, highest and significant
	// figures: an agent of another geometry is refused, as its windows
	// could not be merged without dropping values.
	Geometry [3]int64 `json:"geometry"`
}

// wireWindow is a step's statistics on the wire.
type wireWindow struct {
	Acc           rundir.AccSnapshot `json:"acc"`
	Turns         int64              `json:"turns"`
	Offered       float64            `json:"offered"`
	RateEnd       float64            `json:"rate_end,omitempty"`
	Concurrency   int                `json:"concurrency"`
	Saturated     bool               `json:"saturated,omitempty"`
	ScheduleLag   time.Duration      `json:"schedule_lag"`
	GenCPU        time.Duration      `json:"gen_cpu"`
	InFlightStart int64              `json:"in_flight_start"`
	InFlightEnd   int64              `json:"in_flight_end"`
	Goroutines    int                `json:"goroutines"`
	// Err is the engine's error of the step: "exhausted", "recording: …"
	// or another.
	Err string `json:"err,omitempty"`
}

// wireSecond is a second of an agent's run on the wire, with its
// histograms in HdrHistogram's V2 encoding.
type wireSecond struct {
	rundir.Second
	Encoded [][]byte `json:"hists"`
}

// secondOf puts a second on the wire.
func secondOf(s rundir.Second) (*wireSecond, error) {
	w := &wireSecond{Second: s}
	for _, h := range s.Hists {
		b, err := h.EncodeV2()
		if err != nil {
			return nil, err
		}
		w.Encoded = append(w.Encoded, b)
	}
	w.Hists = nil
	return w, nil
}

// second is the second off the wire, with its histograms.
func (w *wireSecond) second() (rundir.Second, error) {
	s := w.Second
	for _, b := range w.Encoded {
		h, err := hdrhistogram.Decode(b)
		if err != nil {
			return s, err
		}
		s.Hists = append(s.Hists, h)
	}
	return s, nil
}

// geometry is this build's latency histogram geometry.
func geometry() [3]int64 {
	h := rundir.NewHistogram()
	return [3]int64{h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures()}
}

// windowOf puts a step's statistics on the wire.
func windowOf(w *rundir.StepStats, err error) (*wireWindow, error) {
	snap, serr := w.Snapshot()
	if serr != nil {
		return nil, serr
	}
	ww := &wireWindow{
		Acc: snap, Turns: w.Turns, Offered: w.Offered, RateEnd: w.RateEnd, Concurrency: w.Concurrency,
		Saturated: w.Saturated, ScheduleLag: w.ScheduleLag, GenCPU: w.GenCPU,
		InFlightStart: w.InFlightStart, InFlightEnd: w.InFlightEnd, Goroutines: w.Goroutines,
	}
	switch {
	case errors.Is(err, probe.ErrExhausted):
		ww.Err = "exhausted"
	case errors.Is(err, probe.ErrRecording):
		ww.Err = "recording: " + err.Error()
	case err != nil && !errors.Is(err, context.Canceled):
		ww.Err = err.Error()
	}
	return ww, nil
}

// mergeWindows merges the agents' windows of one step into the step's
// statistics, as one engine would have cut them: counts and histograms
// added (a value a histogram cannot hold is an error), the latest end,
// the in-flight counts and the generator's costs summed, the worst lag.
func mergeWindows(ws []*wireWindow, j rundir.Judging) (*rundir.StepStats, error) {
	var (
		acc             *rundir.Acc
		end, judgedEnd  int64
		turns, in0, in1 int64
		conc, gor       int
		sat             bool
		lag, cpu        time.Duration
	)
	for _, w := range ws {
		a, err := rundir.ImportAcc(w.Acc, j)
		if err != nil {
			return nil, err
		}
		if acc == nil {
			acc = a
		} else if err := acc.Merge(a); err != nil {
			return nil, err
		}
		end, judgedEnd = max(end, w.Acc.Bounds.End), max(judgedEnd, w.Acc.Bounds.JudgedEnd)
		turns, in0, in1 = turns+w.Turns, in0+w.InFlightStart, in1+w.InFlightEnd
		conc, gor, sat = conc+w.Concurrency, gor+w.Goroutines, sat || w.Saturated
		lag, cpu = max(lag, w.ScheduleLag), cpu+w.GenCPU
	}
	s := acc.Final(end, judgedEnd, nil)
	s.Turns, s.InFlightStart, s.InFlightEnd = turns, in0, in1
	s.Concurrency, s.Goroutines, s.Saturated = conc, gor, sat
	s.ScheduleLag, s.GenCPU = lag, cpu
	s.Offered, s.RateEnd = ws[0].Offered, ws[0].RateEnd
	return s, nil
}

// share is agent i's share of n among agents: the floor or the ceiling
// of n/agents, adding up to n.
func share(n, agents, i int) int {
	s := n / agents
	if i < n%agents {
		s++
	}
	return s
}

// bound is agent i's share of an in-flight bound or of closed-loop
// workers, at least one; 0, the engine's default, stays 0.
func bound(n, agents, i int) int {
	if n <= 0 {
		return 0
	}
	return max(1, share(n, agents, i))
}

// AgentLostError is a run that lost an agent: it died, or fell silent.
type AgentLostError struct {
	Index int
	Err   error
}

func (e *AgentLostError) Error() string {
	return fmt.Sprintf("agent %d was lost (%v): the run ended with what was recorded", e.Index, e.Err)
}

func (e *AgentLostError) Unwrap() error { return e.Err }

// peer is one end of an agent's connection: messages are written whole
// under a lock (the beat writes too), read by one goroutine, and a
// connection silent for agentSilence is lost.
type peer struct {
	conn net.Conn
	wmu  sync.Mutex
	enc  *json.Encoder
	dec  *json.Decoder
	in   chan message
	// seconds, when set, takes the peer's seconds; one it has no room
	// for is dropped, as a live watcher's is.
	seconds chan<- message
	// dead is closed when the connection failed; err says why.
	dead chan struct{}
	err  error
}

func newPeer(c net.Conn) *peer {
	return &peer{conn: c, enc: json.NewEncoder(c), dec: json.NewDecoder(bufio.NewReader(c)), in: make(chan message, 8), dead: make(chan struct{})}
}

func (p *peer) send(m message) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.conn.SetWriteDeadline(time.Now().Add(agentSilence))
	return p.enc.Encode(m)
}

// read reads one message, within agentSilence.
func (p *peer) read() (message, error) {
	var m message
	p.conn.SetReadDeadline(time.Now().Add(agentSilence))
	err := p.dec.Decode(&m)
	return m, err
}

// serve reads the peer's messages into in, leaving out beats, until the
// connection fails, and beats every second until then or done.
func (p *peer) serve(done <-chan struct{}) {
	go func() {
		t := time.NewTicker(beatEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if p.send(message{Kind: "beat"}) != nil {
					return
				}
			case <-p.dead:
				return
			case <-done:
				return
			}
		}
	}()
	for {
		m, err := p.read()
		if err != nil {
			p.err = err
			close(p.dead)
			return
		}
		switch {
		case m.Kind == "beat":
		case m.Kind == "second":
			select {
			case p.seconds <- m:
			default:
			}
		default:
			p.in <- m
		}
	}
}

// await returns the peer's next message, which must be of kind; ctx, when
// it ends, returns its error.
// A reply to a request given up on (a pause cut short) is passed over.
func (p *peer) await(ctx context.Context, kind string) (message, error) {
	for {
		select {
		case m := <-p.in:
			switch {
			case m.Kind != kind && (m.Kind == "paused" || m.Kind == "window"):
				continue
			case m.Kind != kind:
				return m, fmt.Errorf("sent %q where %q was due", m.Kind, kind)
			case m.Error != "":
				return m, errors.New(m.Error)
			}
			return m, nil
		case <-p.dead:
			return message{}, p.err
		case <-ctx.Done():
			return message{}, ctx.Err()
		}
	}
}

// coordinator is the engine of a run whose agents send its load: each of
// Step, Pause and Stop is sent to every agent and their answers merged.
type coordinator struct {
	agents []*peer
	// lead is how far ahead a step begins: stepLead and four of the
	// slowest agent's half round trips.
	lead    time.Duration
	clock   probe.Clock
	judging rundir.Judging
	done    chan struct{}
	// lost is the first agent lost.
	lost error
}

// lose marks agent i lost, once.
func (c *coordinator) lose(i int, err error) error {
	if c.lost == nil {
		c.lost = &AgentLostError{Index: i, Err: err}
	}
	return c.lost
}

// each sends every agent its message and waits for each answer of kind;
// ctx ending sends the agents cut and waits on.
func (c *coordinator) each(ctx context.Context, kind string, msg func(i int) message, cut *message) ([]message, error) {
	if c.lost != nil {
		return nil, c.lost
	}
	for i, a := range c.agents {
		if err := a.send(msg(i)); err != nil {
			return nil, c.lose(i, err)
		}
	}
	out := make([]message, len(c.agents))
	cutSent := false
	for i, a := range c.agents {
		for {
			m, err := a.await(ctx, kind)
			if err == nil {
				out[i] = m
				break
			}
			if ctx.Err() != nil && cut != nil && !cutSent {
				// The step is cut short: every agent cuts its own, and
				// answers with what it saw.
				cutSent = true
				for j, b := range c.agents {
					if err := b.send(*cut); err != nil {
						return nil, c.lose(j, err)
					}
				}
				ctx = context.Background()
				continue
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, c.lose(i, err)
		}
	}
	return out, nil
}

// Step offers l from every agent, each its share, beginning at the same
// instant on the run's clock, and merges their windows.
func (c *coordinator) Step(ctx context.Context, l probe.Load) (*rundir.StepStats, error) {
	l.At = c.clock.Now() + int64(c.lead)
	n := len(c.agents)
	msgs, err := c.each(ctx, "window", func(i int) message {
		li := l
		li.Concurrency = bound(l.Concurrency, n, i)
		return message{Kind: "step", Load: &li}
	}, &message{Kind: "cut"})
	if err != nil {
		return nil, err
	}
	ws := make([]*wireWindow, n)
	var stepErr error
	for i, m := range msgs {
		if m.Window == nil {
			return nil, c.lose(i, errors.New("a window without statistics"))
		}
		ws[i] = m.Window
		switch e := m.Window.Err; {
		case e == "exhausted":
			stepErr = probe.ErrExhausted
		case e != "":
			stepErr = fmt.Errorf("%w: agent %d: %s", probe.ErrRecording, i, e)
		}
	}
	w, err := mergeWindows(ws, c.judging)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		stepErr = ctx.Err()
	}
	return w, stepErr
}

// Pause has every agent stop sending until its requests in flight are
// done, and returns the longest wait.
func (c *coordinator) Pause(ctx context.Context, maxWait time.Duration) time.Duration {
	msgs, err := c.each(ctx, "paused", func(int) message { return message{Kind: "pause", Wait: maxWait} }, nil)
	var waited time.Duration
	if err == nil {
		for _, m := range msgs {
			waited = max(waited, m.Wait)
		}
	}
	return waited
}

// Stop stops every agent still connected, which closes its records, and
// sums their counts.
func (c *coordinator) Stop() (probe.Totals, error) {
	defer close(c.done)
	var (
		tot  probe.Totals
		errs []error
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, a := range c.agents {
		select {
		case <-a.dead:
			continue
		default:
		}
		if err := a.send(message{Kind: "stop"}); err != nil {
			errs = append(errs, c.lose(i, err))
			continue
		}
		m, err := a.await(ctx, "stopped")
		if err != nil {
			errs = append(errs, fmt.Errorf("runner: agent %d did not stop: %w", i, err))
		} else if m.Totals != nil {
			t := m.Totals
			tot.Sent, tot.Recorded, tot.OK, tot.Failed, tot.Canceled = tot.Sent+t.Sent, tot.Recorded+t.Recorded, tot.OK+t.OK, tot.Failed+t.Failed, tot.Canceled+t.Canceled
		}
		a.conn.Close()
	}
	return tot, errors.Join(errs...)
}

// AgentJoined is an agent that took its part in the run: where it
// connected from, and how its clock was placed.
type AgentJoined struct {
	Index int
	Addr  string
	// Offset is its wall clock less the coordinator's; Error the most
	// that may be wrong by.
	Offset, Error time.Duration
}

func (AgentJoined) event() {}

// coordinate waits for the run's agents, places their clocks and sends
// each its plan; it returns the engine that drives them. An agent that
// connects after the run began is refused.
func (r *Runner) coordinate(ctx context.Context, clock probe.Clock, runID string, scale *datasets.Scale, j rundir.Judging, onSecond func(rundir.Second), events chan<- Event) (_ *coordinator, err error) {
	f := r.opt.Fleet
	wait := f.Wait
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	c := &coordinator{agents: make([]*peer, f.Agents), clock: clock, judging: j, done: make(chan struct{})}
	defer func() {
		if err != nil {
			// The agents that joined end as their coordinator is gone.
			for _, p := range c.agents {
				if p != nil {
					p.conn.Close()
				}
			}
		}
	}()
	joined := make(chan *peer)
	// started ends the joining: an agent that connects later is refused.
	started := make(chan struct{})
	defer close(started)
	go func() {
		for {
			conn, err := f.Listener.Accept()
			if err != nil {
				return
			}
			p := newPeer(conn)
			go func() {
				select {
				case joined <- p:
				case <-started:
					p.send(message{Kind: "refused", Error: "run " + runID + " has begun: an agent that joins late, or restarted, cannot take part in it"})
					conn.Close()
				}
			}()
		}
	}()
	context.AfterFunc(ctx, func() { f.Listener.Close() })
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	refuse := func(p *peer, why string) {
		p.send(message{Kind: "refused", Error: why})
		p.conn.Close()
	}
	for n := 0; n < f.Agents; {
		var p *peer
		select {
		case p = <-joined:
		case <-deadline.C:
			return nil, fmt.Errorf("runner: %d of %d agents connected to %s within %v", n, f.Agents, f.Listener.Addr(), wait)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		hello, err := p.read()
		switch {
		case err != nil || hello.Kind != "hello":
			refuse(p, "a connection must begin with hello")
			continue
		case hello.Index < 0 || hello.Index >= f.Agents:
			refuse(p, fmt.Sprintf("agent index %d is not one of 0…%d", hello.Index, f.Agents-1))
			continue
		case c.agents[hello.Index] != nil:
			refuse(p, fmt.Sprintf("agent %d has already joined run %s", hello.Index, runID))
			continue
		}
		offset, uncertainty, err := placeClock(p)
		if err != nil {
			refuse(p, err.Error())
			continue
		}
		if uncertainty > maxClockError {
			refuse(p, "clock too uncertain")
			return nil, fmt.Errorf("runner: agent %d's clock cannot be placed within %v (±%v): its windows could not be judged on one clock", hello.Index, maxClockError, uncertainty.Round(time.Microsecond))
		}
		c.agents[hello.Index] = p
		c.lead = max(c.lead, stepLead+4*uncertainty)
		n++
		events <- AgentJoined{Index: hello.Index, Addr: p.conn.RemoteAddr().String(), Offset: offset, Error: uncertainty}
		plan := agentPlan{
			RunID: runID, Spec: r.spec, Body: r.spec.Body, DataBase64: r.spec.DataBase64, Index: hello.Index, Agents: f.Agents, Scale: scale,
			Zero: clock.Zero().UnixNano() + int64(offset), Geometry: geometry(),
		}
		if err := p.send(message{Kind: "plan", Plan: &plan}); err != nil {
			return nil, c.lose(hello.Index, err)
		}
	}
	seconds := make(chan message, 4*f.Agents)
	for i, p := range c.agents {
		m, err := p.read()
		switch {
		case err != nil:
			return nil, c.lose(i, err)
		case m.Kind != "ready" || m.Error != "":
			return nil, fmt.Errorf("runner: agent %d could not take its plan: %s", i, m.Error)
		}
		if onSecond != nil {
			p.seconds = seconds
		}
		go p.serve(c.done)
	}
	if onSecond != nil {
		go c.mergeSeconds(seconds, onSecond)
	}
	return c, nil
}

// mergeSeconds merges the agents' seconds as they come, each once every
// agent has sent it; a second some agent dropped is dropped.
func (c *coordinator) mergeSeconds(in <-chan message, onSecond func(rundir.Second)) {
	pending := map[float64][]rundir.Second{}
	for {
		var m message
		select {
		case m = <-in:
		case <-c.done:
			return
		}
		if m.Second == nil {
			continue
		}
		s, err := m.Second.second()
		if err != nil {
			continue
		}
		ss := append(pending[s.T], s)
		if len(ss) < len(c.agents) {
			pending[s.T] = ss
		} else if merged, err := rundir.MergeSeconds(ss); err == nil {
			delete(pending, s.T)
			onSecond(merged)
		}
		for t := range pending {
			if t < s.T-5 {
				delete(pending, t)
			}
		}
	}
}

// placeClock estimates the peer's wall clock less ours from the ping
// with the shortest round trip, and how wrong that may be: half of it.
func placeClock(p *peer) (offset, uncertainty time.Duration, err error) {
	uncertainty = time.Duration(1<<63 - 1)
	for range clockPings {
		t0 := time.Now().UnixNano()
		if err := p.send(message{Kind: "ping", Sent: t0}); err != nil {
			return 0, 0, err
		}
		m, err := p.read()
		if err != nil || m.Kind != "pong" {
			return 0, 0, fmt.Errorf("no pong: %v", err)
		}
		t1 := time.Now().UnixNano()
		if half := time.Duration(t1-t0) / 2; half < uncertainty {
			uncertainty, offset = half, time.Duration(m.Wall-(t0+t1)/2)
		}
	}
	return offset, uncertainty, nil
}
