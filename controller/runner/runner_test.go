package runner

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/probetest"
	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

// serve starts a queueing target of four workers and 5 ms requests (800
// req/s) on loopback for the test.
func serve(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := probetest.Serve(ctx, "127.0.0.1:0", probetest.NewQueue(probetest.QueueConfig{Workers: 4, ServiceTime: 5 * time.Millisecond, Seed: 1}))
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL
}

// spec is a short run of mode m against url: half-second steps, a few
// seconds in all, judged at p90 so that a step has samples enough.
func spec(t *testing.T, url string, m rundir.Mode) Spec {
	return Spec{
		URL: url, Mode: m, API: rundir.APIHTTP, Arrival: rundir.ArrivalConstant, Burstiness: 1, Seed: 1,
		MinQPS: 200, MaxQPS: 2000, QPSGrowthDelta: 150, AdjustInterval: 500 * time.Millisecond,
		StepDuration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond, Duration: 2 * time.Second, Precision: 0.1,
		MaxRT: 50 * time.Millisecond, RTQuantile: 0.9, FaultTolerate: 0.001, FaultAction: rundir.FaultRevise,
		Timeout: 5 * time.Second, Headroom: 0.3, Out: filepath.Join(t.TempDir(), "run"),
	}
}

// watch runs r to its end and returns its events.
func watch(t *testing.T, ctx context.Context, r *Runner, on func(Event)) []Event {
	t.Helper()
	var evs []Event
	for ev := range r.Run(ctx) {
		evs = append(evs, ev)
		if on != nil {
			on(ev)
		}
	}
	done, ok := evs[len(evs)-1].(Done)
	if !ok {
		t.Fatalf("the last event is %T, not Done", evs[len(evs)-1])
	}
	if done.Err != nil {
		t.Fatal(done.Err)
	}
	return evs
}

// TestLiveEqualsOffline records a run of every mode and reads it back:
// each step's verdict and figures offline are those the run judged live,
// to the last digit.
func TestLiveEqualsOffline(t *testing.T) {
	url := serve(t)
	for _, m := range []rundir.Mode{rundir.ModeAuto, rundir.ModeScan, rundir.ModeManual, rundir.ModeRate, rundir.ModeConcurrency, rundir.ModeThroughput, rundir.ModeProfile} {
		t.Run(string(m), func(t *testing.T) {
			s := spec(t, url, m)
			switch m {
			case rundir.ModeRate:
				s.Rate = 200
			case rundir.ModeProfile:
				// A step at one rate, then a ramp cut into steps.
				s.Stages = []rundir.Stage{{Name: "flat", Duration: rundir.Seconds(500 * time.Millisecond), Rate: 100},
					{Name: "ramp", Duration: rundir.Seconds(time.Second), From: 100, To: 400}}
				s.Duration = 1500 * time.Millisecond
			}
			liveEqualsOffline(t, s)
		})
	}
	// Conversations: steps looked at early, whose later turns and answers
	// run across the cuts.
	t.Run("auto conversations", func(t *testing.T) {
		s := spec(t, llm(t, probetest.LLMConfig{Seed: 1}), rundir.ModeAuto)
		s.API, s.Dataset = rundir.APIOpenAIChat, "synthetic:input=40,output=8,turns=2-4,think=100ms"
		s.MaxRT, s.MaxTTFT, s.MinQPS, s.StepDuration, s.Duration = 0, 60*time.Millisecond, 20, time.Second, 5*time.Second
		liveEqualsOffline(t, s)
	})
}

// liveEqualsOffline runs s and reads the run back: each step's verdict
// and figures offline must be those the run judged live.
func liveEqualsOffline(t *testing.T, s Spec) {
	t.Helper()
	r, err := New(s, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var live []Judged
	evs := watch(t, context.Background(), r, func(ev Event) {
		if j, ok := ev.(Judged); ok {
			live = append(live, j)
		}
	})
	res := evs[len(evs)-1].(Done).Result
	if len(live) < 2 {
		t.Fatalf("%d steps judged, want several", len(live))
	}
	src, err := store.Open(r.Dir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := analysis.Explain(src, r.Spec(), -1, res.Status)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Steps) != len(live) {
		t.Fatalf("%d steps offline, %d live", len(a.Steps), len(live))
	}
	for i, j := range live {
		off := a.Steps[i]
		if off.Verdict != j.Step.Verdict || off.Limit != j.Step.Limit || off.Conclusive != j.Step.Conclusive || off.Higher != j.Step.Higher {
			t.Errorf("step %d: offline %v (%s, conclusive %v, higher %v), live %v (%s, conclusive %v, higher %v)", i+1,
				off.Verdict, off.Limit, off.Conclusive, off.Higher, j.Step.Verdict, j.Step.Limit, j.Step.Conclusive, j.Step.Higher)
		}
		want := j.Stats.Summary(j.Step.Verdict.String(), string(j.Step.Limit), j.Step.Conclusive)
		if got := a.Summary.Steps[i]; !reflect.DeepEqual(got, want) {
			t.Errorf("step %d offline:\n%+v\nlive:\n%+v", i+1, got, want)
		}
		if got := a.Run.Steps[i].Turns; got != j.Stats.Turns {
			t.Errorf("step %d: %d later turns sent offline, %d live", i+1, got, j.Stats.Turns)
		}
	}
}

// TestRunnerSteersAFixedRate changes a rate run's load mid-run and then
// stops it, through the API alone.
func TestRunnerSteersAFixedRate(t *testing.T) {
	s := spec(t, serve(t), rundir.ModeRate)
	s.Rate, s.Duration = 100, time.Minute
	r, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetLoad(Load{Concurrency: 3}); err == nil {
		t.Error("a rate run took a concurrency without a rate")
	}
	var (
		started []controller.Decision
		judged  []controller.Step
		windows int
		ticks   []rundir.Second
	)
	evs := watch(t, context.Background(), r, func(ev Event) {
		switch ev := ev.(type) {
		case StepStarted:
			started = append(started, ev.Decision)
		case Window:
			windows++
		case Tick:
			ticks = append(ticks, ev.Second)
		case Judged:
			judged = append(judged, ev.Step)
			switch len(judged) {
			case 1:
				if err := r.SetLoad(Load{Rate: 300, By: "command"}); err != nil {
					t.Error(err)
				}
			case 3:
				r.Stop()
			}
		}
	})
	res := evs[len(evs)-1].(Done).Result
	if _, ok := evs[0].(Started); !ok {
		t.Errorf("the first event is %T, not Started", evs[0])
	}
	if len(judged) < 3 || windows < len(judged) {
		t.Fatalf("%d steps judged with %d windows, want at least 3 and a window each", len(judged), windows)
	}
	// Events reach the watcher after the run has gone on: the step that
	// SetLoad cut may be the first or the second; every later one is at
	// the new rate.
	var rates []float64
	for _, d := range started {
		rates = append(rates, d.Rate)
	}
	changed := slices.Index(rates, 300)
	if rates[0] != 100 || changed < 1 || changed > 2 || slices.ContainsFunc(rates[changed:], func(r float64) bool { return r != 300 }) {
		t.Errorf("rates %v: want 100, then 300 from the step after SetLoad on", rates)
	}
	if res.Status != controller.Stopped || !res.Stopped {
		t.Errorf("status %v (stopped %v) after Stop, want stopped", res.Status, res.Stopped)
	}
	// The steps after the change say who asked for it.
	for i, st := range res.Summary.Steps {
		if want := map[bool]string{true: "command"}[st.OfferedQPS == 300]; st.AskedBy != want {
			t.Errorf("step %d at %v/s asked by %q, want %q", i+1, st.OfferedQPS, st.AskedBy, want)
		}
	}
	// Every second of the run was told as it ended, with the step
	// running and what ended in it.
	var done int64
	for i, s := range ticks {
		if s.T != float64(i+1) || s.Step < 1 || (s.OfferedQPS != 100 && s.OfferedQPS != 300) {
			t.Errorf("second %d: %+v", i+1, s)
		}
		done += s.Done
	}
	if len(ticks) == 0 || done == 0 || done > res.Summary.Requests.Sent {
		t.Errorf("%d seconds told, %d requests ended in them of %d sent", len(ticks), done, res.Summary.Requests.Sent)
	}
	if res.Summary.Requests.Sent == 0 || len(res.Summary.Steps) != len(judged) {
		t.Errorf("summary of %d requests and %d steps, want the %d steps run", res.Summary.Requests.Sent, len(res.Summary.Steps), len(judged))
	}
}

// TestRunnerSteersAClosedLoop changes the workers of a manual run while
// a step is running: the step ends at once.
func TestRunnerSteersAClosedLoop(t *testing.T) {
	s := spec(t, serve(t), rundir.ModeManual)
	s.Concurrency, s.StepDuration, s.Duration = 2, 10*time.Second, 30*time.Second
	r, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetLoad(Load{Rate: 10}); err == nil {
		t.Error("a manual run took a rate")
	}
	var judged []controller.Step
	begun := time.Now()
	watch(t, context.Background(), r, func(ev Event) {
		switch ev := ev.(type) {
		case StepStarted:
			go func() {
				time.Sleep(300 * time.Millisecond)
				if ev.Step == 1 {
					if err := r.SetLoad(Load{Concurrency: 6}); err != nil {
						t.Error(err)
					}
				} else {
					r.Stop()
				}
			}()
		case Judged:
			judged = append(judged, ev.Step)
		}
	})
	if len(judged) != 2 || judged[0].Decision.Concurrency != 2 || judged[1].Decision.Concurrency != 6 {
		t.Fatalf("steps %+v, want c=2 then c=6", judged)
	}
	if judged[0].Cut || judged[0].Decision.Hold >= s.StepDuration {
		t.Errorf("the steered step held %v (cut %v), want it ended early and judged", judged[0].Decision.Hold, judged[0].Cut)
	}
	if !judged[1].Cut {
		t.Error("the step Stop ended is not marked cut short")
	}
	if time.Since(begun) > 25*time.Second {
		t.Errorf("the run took %v: neither SetLoad nor Stop ended a 10 s step", time.Since(begun))
	}
}

// TestRunnerRefusesSteeringASearch: auto and scan set their own loads.
func TestRunnerRefusesSteeringASearch(t *testing.T) {
	for _, m := range []rundir.Mode{rundir.ModeAuto, rundir.ModeScan, rundir.ModeProfile} {
		r := &Runner{spec: Spec{Mode: m}}
		if err := r.SetLoad(Load{Rate: 10}); err == nil {
			t.Errorf("%s took a load", m)
		}
	}
}

// TestNewRefusesBadInput: a spec that does not check, and a payload file
// that does not exist, are input errors.
func TestNewRefusesBadInput(t *testing.T) {
	s := spec(t, "http://127.0.0.1:9/", rundir.ModeRate)
	if _, err := New(s, Options{}); err == nil {
		t.Error("a rate run without a rate was accepted")
	}
	s.Rate, s.DataFile = 10, filepath.Join(t.TempDir(), "missing")
	_, err := New(s, Options{})
	var in *InputError
	if !errors.As(err, &in) {
		t.Errorf("a missing data file gave %v, want an *InputError", err)
	}
}

// hangs serves a target on loopback that accepts every request and never
// answers it. It reads the body, so that the server notices the client
// going away.
func hangs(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Auto against a target that never answers ends with no passing load,
// no capacity and a complete summary, for plain HTTP and for an LLM API.
func TestAutoAgainstAHungTarget(t *testing.T) {
	url := hangs(t)
	for _, api := range []rundir.API{rundir.APIHTTP, rundir.APIOpenAIChat} {
		t.Run(string(api), func(t *testing.T) {
			s := spec(t, url, rundir.ModeAuto)
			s.API, s.MinQPS, s.StepDuration, s.Warmup, s.Timeout, s.Duration = api, 40, time.Second, 200*time.Millisecond, time.Second, time.Minute
			s.MaxRT, s.RTQuantile = 200*time.Millisecond, 0.9
			if api.LLM() {
				s.MaxRT, s.MaxTTFT, s.MinQPS, s.Dataset = 0, time.Second, 1, "synthetic:input=8,output=4"
			}
			r, err := New(s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			evs := watch(t, context.Background(), r, nil)
			res := evs[len(evs)-1].(Done).Result
			if res.Status != controller.NotFound || res.Summary.Capacity.QPS != 0 || res.Summary.Status != "no passing load" {
				t.Errorf("status %v (%q), capacity %v: want no passing load and none", res.Status, res.Summary.Status, res.Summary.Capacity.QPS)
			}
			for _, st := range res.Summary.Steps {
				if st.Verdict == "pass" {
					t.Errorf("step %d at %g/s passed with %d samples", st.Step, st.OfferedQPS, st.Samples)
				}
			}
			var sum rundir.Summary
			if err := rundir.ReadJSON(filepath.Join(r.Dir(), rundir.SummaryJSON), &sum); err != nil || len(sum.Steps) == 0 {
				t.Errorf("summary.json: %v, %d steps", err, len(sum.Steps))
			}
		})
	}
}

// A fixed rate in steps sends what it offers: each step goes on with the
// schedule's phase, without an extra send at its start.
func TestFixedRateSendsWhatItOffers(t *testing.T) {
	s := spec(t, serve(t), rundir.ModeRate)
	s.Rate, s.StepDuration, s.Duration, s.Warmup = 20, 500*time.Millisecond, 3*time.Second, 100*time.Millisecond
	r, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	evs := watch(t, context.Background(), r, nil)
	res := evs[len(evs)-1].(Done).Result
	if n := res.Summary.Requests.Sent; n < 59 || n > 61 {
		t.Errorf("%d requests in 3 s at 20/s, want 60 ± 1", n)
	}
}

// --duration bounds the whole run, the drains after failing steps
// included: against a target that never answers, whose every failed step
// is followed by a drain as long as the timeout.
func TestDurationBoundsDrains(t *testing.T) {
	s := spec(t, hangs(t), rundir.ModeAuto)
	s.MinQPS, s.StepDuration, s.Warmup, s.Timeout, s.Duration = 1000, time.Second, 200*time.Millisecond, 2*time.Second, 3*time.Second
	s.MaxRT, s.RTQuantile = 200*time.Millisecond, 0.9
	r, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	begun := time.Now()
	evs := watch(t, context.Background(), r, nil)
	// Unbounded, the steps at 1000, 500, 250, 125, 62.5, … /s and their
	// drains take over 15 s; bounded, 3 s and the end of the run.
	if took := time.Since(begun); took > 2*s.Duration {
		t.Errorf("a run of --duration %v took %v", s.Duration, took)
	}
	if res := evs[len(evs)-1].(Done).Result; res.Summary.Capacity.QPS != 0 {
		t.Errorf("capacity %v against a target that never answers", res.Summary.Capacity.QPS)
	}
}

// A second interrupt cuts the work after the first one short: the summary
// is written from the engine's counts, without reading the run back.
func TestAbortSkipsTheAnalysis(t *testing.T) {
	s := spec(t, serve(t), rundir.ModeRate)
	s.Rate, s.Duration = 100, time.Minute
	abort := make(chan struct{})
	r, err := New(s, Options{Abort: abort})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	evs := watch(t, ctx, r, func(ev Event) {
		if j, ok := ev.(Judged); ok && j.Step.Index == 1 {
			close(abort)
			cancel()
		}
	})
	res := evs[len(evs)-1].(Done).Result
	var sum rundir.Summary
	if err := rundir.ReadJSON(filepath.Join(r.Dir(), rundir.SummaryJSON), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Requests.Sent == 0 || sum.Status != "stopped" || res.Analysis != nil || len(sum.Warnings) == 0 {
		t.Errorf("summary of %d requests, status %q, warnings %q; want the engine's counts, stopped, and why the analysis is missing", sum.Requests.Sent, sum.Status, sum.Warnings)
	}
}

// TLS certificates are verified unless the run says --insecure, and then
// its answer says so.
func TestTLSIsVerifiedUnlessInsecure(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	for _, insecure := range []bool{false, true} {
		s := spec(t, srv.URL, rundir.ModeRate)
		s.Rate, s.Requests, s.Insecure = 50, 20, insecure
		r, err := New(s, Options{})
		if err != nil {
			t.Fatal(err)
		}
		evs := watch(t, context.Background(), r, nil)
		sum := evs[len(evs)-1].(Done).Result.Summary
		warned := strings.Contains(strings.Join(sum.Warnings, "\n"), "not verified")
		switch {
		case !insecure && (sum.Requests.OK != 0 || sum.Steps[0].Errors["tls"] == 0):
			t.Errorf("a self-signed certificate was accepted: %d ok, errors %v", sum.Requests.OK, sum.Steps[0].Errors)
		case insecure && (sum.Requests.OK != 20 || !warned):
			t.Errorf("--insecure: %d of 20 ok, warnings %q", sum.Requests.OK, sum.Warnings)
		}
	}
}

// rawTarget serves handle on loopback for the test: a target that breaks
// HTTP.
func rawTarget(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	url, err := probetest.ServeRaw(t.Context(), "127.0.0.1:0", handle)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// ticking answers with chunk every gap, n times (forever when n < 0),
// until the client goes away: a slow drip or an endless stream.
func ticking(chunk, contentType string, gap time.Duration, n int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		for i := 0; n < 0 || i < n; i++ {
			io.WriteString(w, chunk)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(gap):
			}
		}
	}
}

// Every fault at the target is survived and recorded: the run ends with
// its summary, every request sent has its row with the failure's class,
// and a target that failed them all is credited with nothing.
func TestFaultsAtTheTarget(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String()
	closed.Close()
	served := func(h http.HandlerFunc) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	for _, c := range []struct {
		name, url, class string
		api              rundir.API
	}{
		{"refused", refused, rundir.ErrRefused, rundir.APIHTTP},
		{"reset", rawTarget(t, func(c net.Conn) { c.(*net.TCPConn).SetLinger(0) }), rundir.ErrReset, rundir.APIHTTP},
		{"not HTTP", rawTarget(t, func(c net.Conn) { io.WriteString(c, "NOT HTTP AT ALL\r\n\r\n") }), rundir.ErrProtocol, rundir.APIHTTP},
		{"5xx", served(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }), "status 503", rundir.APIHTTP},
		{"slow drip", served(ticking("x", "text/plain", 100*time.Millisecond, 20)), rundir.ErrTimeout, rundir.APIHTTP},
		{"endless stream", served(ticking("data: tick\n\n", "text/event-stream", 50*time.Millisecond, -1)), rundir.ErrTimeout, rundir.APISSE},
		{"broken SSE", served(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"de")
		}), rundir.ErrProtocol, rundir.APIOpenAIChat},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := spec(t, c.url, rundir.ModeRate)
			s.API, s.Rate, s.Requests, s.Timeout, s.MaxRT = c.api, 50, 20, time.Second, 0
			if c.api.LLM() {
				s.Dataset = "synthetic:input=4,output=4"
			}
			r, err := New(s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			evs := watch(t, context.Background(), r, nil)
			sum := evs[len(evs)-1].(Done).Result.Summary
			q := sum.Requests
			want := int64(20)
			if c.api.LLM() {
				// The prompts' calibration failed too, and counts: its first
				// round, after which it gave up.
				want += CalibrationRequests / 3
			}
			if q.Sent != want || q.Recorded != want || q.Failed != want {
				t.Errorf("%d sent, %d recorded, %d failed; want %d of each", q.Sent, q.Recorded, q.Failed, want)
			}
			errs := map[string]int64{}
			for _, st := range sum.Steps {
				for k, v := range st.Errors {
					errs[k] += v
				}
			}
			if errs[c.class] == 0 || sum.Capacity.QPS != 0 {
				t.Errorf("failures %v, capacity %v; want class %q and no capacity", errs, sum.Capacity.QPS, c.class)
			}
		})
	}
}

// A target killed mid-run and started again on the same address costs
// the requests sent while it was down, recorded as refused or reset, and
// no more: the run goes on and the requests after it succeed.
func TestTargetRestartedMidRun(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	first, again := &http.Server{Handler: h}, &http.Server{Handler: h}
	go first.Serve(l)
	restarted := make(chan struct{})
	defer func() {
		<-restarted
		first.Close()
		again.Close()
	}()
	go func() {
		defer close(restarted)
		time.Sleep(700 * time.Millisecond)
		first.Close()
		time.Sleep(500 * time.Millisecond)
		l2, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		go again.Serve(l2)
	}()
	s := spec(t, "http://"+addr, rundir.ModeRate)
	s.Rate, s.Requests, s.Timeout, s.MaxRT, s.Duration = 100, 250, time.Second, 0, time.Minute
	r, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	evs := watch(t, context.Background(), r, nil)
	q := evs[len(evs)-1].(Done).Result.Summary.Requests
	if q.Sent != 250 || q.Recorded != 250 || q.Failed == 0 || q.OK < 150 {
		t.Errorf("%d sent, %d recorded, %d ok, %d failed; want every one recorded, those of the half second down failed", q.Sent, q.Recorded, q.OK, q.Failed)
	}
}

// summaryOf runs s to its end, showing on each event, and returns the
// run's summary.
func summaryOf(t *testing.T, s Spec, on func(Event)) rundir.Summary {
	t.Helper()
	r, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	evs := watch(t, context.Background(), r, on)
	return evs[len(evs)-1].(Done).Result.Summary
}
