package runner

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
)

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
