// Package dashboard watches and steers a run from a browser: one page,
// its assets embedded, fed by server-sent events from the runner's event
// stream; control endpoints that set a steerable run's load or stop it;
// and /metrics in Prometheus text format.
package dashboard

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/probe/rundir"
)

// keepSeconds bounds the seconds a hub keeps: a page opened mid-run gets
// the last ten minutes per second, and every step.
const keepSeconds = 600

// Info is what the page says of the run at its top.
type Info struct {
	Dir     string `json:"dir"`
	URL     string `json:"url"`
	Mode    string `json:"mode"`
	Limits  string `json:"limits"`
	Streams bool   `json:"streams"`
	// Steer is "concurrency" or "rate" when the page may set the load.
	Steer string `json:"steer,omitempty"`
}

// Step is a judged step as the page shows it.
type Step struct {
	rundir.SummaryStep
	// TTFTP99Ms and friends come with SummaryStep; Decision says what the
	// controller made of it.
	Decision string `json:"decision"`
}

// End is how the run ended, for the page that outlives it.
type End struct {
	State string `json:"state"` // "done", "interrupted" or "failed"
	// Summary and Report are the files written; Analyze the command
	// that draws the report of an interrupted run.
	Summary string `json:"summary,omitempty"`
	Report  string `json:"report,omitempty"`
	Analyze string `json:"analyze,omitempty"`
	Answer  string `json:"answer,omitempty"`
}

// Control steers the run: a runner, and the function that stops the run
// as Ctrl-C would.
type Control struct {
	SetLoad func(runner.Load) error
	Stop    func()
}

// snapshot is everything a page opened mid-run draws.
type snapshot struct {
	Info      Info            `json:"info"`
	Steps     []Step          `json:"steps"`
	Seconds   []rundir.Second `json:"seconds"`
	Decisions []string        `json:"decisions"`
	End       *End            `json:"end,omitempty"`
}

// Hub keeps what the page needs, fed by Event, and serves it.
type Hub struct {
	token string
	ctl   Control

	mu      sync.Mutex
	snap    snapshot
	seconds []rundir.Second // ring of keepSeconds
	next    int             // where the next second goes in the ring
	subs    map[chan []byte]struct{}
	// Totals since the start, for /metrics' counters.
	sent, done int64
	errors     map[string]int64
}

// New returns a hub for the run described by info. A non-empty token is
// required of every request (as ?token= or a bearer token).
func New(info Info, token string, ctl Control) *Hub {
	return &Hub{token: token, ctl: ctl, snap: snapshot{Info: info, Steps: []Step{}, Decisions: []string{}}, subs: map[chan []byte]struct{}{}, errors: map[string]int64{}}
}

// Event takes in one of the runner's events.
func (h *Hub) Event(ev runner.Event) {
	switch ev := ev.(type) {
	case runner.Tick:
		h.mu.Lock()
		if len(h.seconds) < keepSeconds {
			h.seconds = append(h.seconds, ev.Second)
		} else {
			h.seconds[h.next] = ev.Second
		}
		h.next = (h.next + 1) % keepSeconds
		h.sent += ev.Second.Sent
		h.done += ev.Second.Done
		for class, n := range ev.Second.Errors {
			h.errors[class] += n
		}
		h.mu.Unlock()
		h.publish("second", ev.Second)
	case runner.StepStarted:
		h.decide(describeStart(ev))
	case runner.Judged:
		st := Step{SummaryStep: ev.Stats.Summary(ev.Step.Verdict.String(), string(ev.Step.Limit), ev.Step.Conclusive), Decision: describeVerdict(ev.Step)}
		h.mu.Lock()
		h.snap.Steps = append(h.snap.Steps, st)
		bracket := bracketOf(h.snap.Steps)
		h.mu.Unlock()
		h.publish("step", st)
		h.decide(st.Decision + bracket)
	case runner.Drained:
		h.decide(fmt.Sprintf("waited %s for the last step's requests to drain", ev.Waited.Round(1e7)))
	case runner.Warning:
		h.decide("warning: " + ev.Message)
	}
}

// Finish says how the run ended; the page keeps what it drew and shows
// where the answer is.
func (h *Hub) Finish(end End) {
	h.mu.Lock()
	h.snap.End = &end
	h.mu.Unlock()
	h.publish("end", end)
}

// decide records a line of the controller's decisions.
func (h *Hub) decide(line string) {
	h.mu.Lock()
	h.snap.Decisions = append(h.snap.Decisions, line)
	h.mu.Unlock()
	h.publish("decision", line)
}

func describeStart(ev runner.StepStarted) string {
	d := ev.Decision
	load := fmt.Sprintf("%.4g/s", d.Rate)
	if d.Rate == 0 {
		load = fmt.Sprintf("concurrency %d", d.Concurrency)
	}
	by := ""
	if d.AskedBy != "" {
		by = ", asked from the " + d.AskedBy
	}
	return fmt.Sprintf("step %d: %s at %s%s", ev.Step, d.Phase, load, by)
}

// bracketOf says where the capacity lies so far in an open-loop search:
// above the highest load that passed, below the lowest above it that
// failed.
func bracketOf(steps []Step) string {
	lo, hi := 0.0, 0.0
	for _, s := range steps {
		if s.Verdict == "pass" && s.OfferedQPS > lo {
			lo = s.OfferedQPS
		}
	}
	for _, s := range steps {
		if s.Verdict == "fail" && s.OfferedQPS > lo && (hi == 0 || s.OfferedQPS < hi) {
			hi = s.OfferedQPS
		}
	}
	switch {
	case lo > 0 && hi > 0:
		return fmt.Sprintf("; the capacity lies between %.4g and %.4g/s", lo, hi)
	case lo > 0:
		return fmt.Sprintf("; the capacity is at least %.4g/s", lo)
	}
	return ""
}

func describeVerdict(st controller.Step) string {
	v := fmt.Sprintf("step %d: %s", st.Index, st.Verdict)
	if st.Limit != controller.LimitNone {
		v += " (" + string(st.Limit) + ")"
	}
	if st.Higher {
		v += ", far inside"
	}
	return v
}

// snapshot copies the hub's state, seconds in order.
func (h *Hub) snapshot() snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.snap
	s.Steps = append([]Step(nil), s.Steps...)
	s.Decisions = append([]string(nil), s.Decisions...)
	if len(h.seconds) < keepSeconds {
		s.Seconds = append([]rundir.Second(nil), h.seconds...)
	} else {
		s.Seconds = append(append([]rundir.Second(nil), h.seconds[h.next:]...), h.seconds[:h.next]...)
	}
	return s
}

// publish sends an event to every page watching. A page too slow to take
// it is let go: its stream ends, and the browser reconnects for a fresh
// snapshot rather than miss a step.
func (h *Hub) publish(kind string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	msg := []byte("event: " + kind + "\ndata: " + string(b) + "\n\n")
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- msg:
		default:
			delete(h.subs, c)
			close(c)
		}
	}
}

// Handler serves the page, its event stream, the control endpoints and
// /metrics.
func (h *Hub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.page)
	mux.HandleFunc("GET /chart.js", h.script)
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(h.snapshot())
	})
	mux.HandleFunc("GET /events", h.events)
	mux.HandleFunc("POST /api/load", h.load)
	mux.HandleFunc("POST /api/stop", func(w http.ResponseWriter, r *http.Request) {
		h.decide("stop asked from the " + by(r))
		h.ctl.Stop()
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /metrics", h.metrics)
	return h.guard(mux)
}

// guard refuses a request without the token, when there is one.
func (h *Hub) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.token != "" {
			got := r.URL.Query().Get("token")
			if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
				got = strings.TrimPrefix(a, "Bearer ")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(h.token)) != 1 {
				http.Error(w, "capfinder: this dashboard needs its token (the URL capfinder printed)", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// by is who sent a control request: the command line says so, the page
// does not.
func by(r *http.Request) string {
	if r.Header.Get("X-Capfinder-By") == "command" {
		return "command"
	}
	return "page"
}

// load sets the load of a steerable run: {"concurrency": N} or
// {"rate": R}.
func (h *Hub) load(w http.ResponseWriter, r *http.Request) {
	var l struct {
		Concurrency int     `json:"concurrency"`
		Rate        float64 `json:"rate"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&l); err != nil {
		http.Error(w, "capfinder: a JSON body of concurrency or rate expected", http.StatusBadRequest)
		return
	}
	if err := h.ctl.SetLoad(runner.Load{Concurrency: l.Concurrency, Rate: l.Rate, By: by(r)}); err != nil {
		http.Error(w, strings.TrimPrefix(err.Error(), "runner: "), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// events streams the snapshot, then every event, as server-sent events.
func (h *Hub) events(w http.ResponseWriter, r *http.Request) {
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	c := make(chan []byte, 64)
	h.mu.Lock()
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		if _, ok := h.subs[c]; ok {
			delete(h.subs, c)
			close(c)
		}
		h.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	b, _ := json.Marshal(h.snapshot())
	fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", b)
	f.Flush()
	for {
		select {
		case msg, ok := <-c:
			if !ok {
				return
			}
			if _, err := w.Write(msg); err != nil {
				return
			}
			f.Flush()
		case <-r.Context().Done():
			return
		}
	}
}
