package dashboard

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/probe/rundir"
)

// control records what the page and the command asked.
type control struct {
	mu    sync.Mutex
	loads []runner.Load
	stops int
}

func (c *control) hooks() Control {
	return Control{
		SetLoad: func(l runner.Load) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.loads = append(c.loads, l)
			return nil
		},
		Stop: func() { c.mu.Lock(); c.stops++; c.mu.Unlock() },
	}
}

func second(t float64) rundir.Second {
	return rundir.Second{T: t, Step: 1, Phase: "fixed", OfferedQPS: 10, Sent: 10, Done: 9, Failed: 1,
		Status: map[string]int64{"200": 8, "503": 1, "0": 0}, Errors: map[string]int64{"status 503": 1}, P50Ms: 5, P99Ms: 20}
}

// A page opened mid-run gets the last ten minutes per second, in order,
// and every step; memory stays bounded however long the run.
func TestHubKeepsTheRunBounded(t *testing.T) {
	h := New(Info{Mode: "manual", Steer: "concurrency"}, "", (&control{}).hooks())
	for i := 1; i <= keepSeconds+100; i++ {
		h.Event(runner.Tick{Second: second(float64(i))})
	}
	st := &rundir.StepStats{Step: 1, Offered: 10, Latency: rundir.NewHistogram()}
	h.Event(runner.StepStarted{Step: 1, Decision: controller.Decision{Rate: 10, Phase: "fixed"}})
	h.Event(runner.Judged{Step: controller.Step{Index: 1, Verdict: controller.Pass}, Stats: st})
	s := h.snapshot()
	if len(s.Seconds) != keepSeconds || s.Seconds[0].T != 101 || s.Seconds[keepSeconds-1].T != keepSeconds+100 {
		t.Errorf("%d seconds from %v to %v, want the last %d in order", len(s.Seconds), s.Seconds[0].T, s.Seconds[len(s.Seconds)-1].T, keepSeconds)
	}
	if len(s.Steps) != 1 || len(s.Decisions) != 2 || !strings.Contains(s.Decisions[1], "pass; the capacity is at least 10/s") {
		t.Errorf("steps %+v, decisions %q", s.Steps, s.Decisions)
	}
}

// The event stream begins with the whole run so far and goes on with
// every second; the control endpoints steer the run, saying who asked.
func TestHubStreamsAndSteers(t *testing.T) {
	ctl := &control{}
	h := New(Info{Mode: "manual", Steer: "concurrency", Streams: true}, "", ctl.hooks())
	h.Event(runner.Tick{Second: second(1)})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	read := func() (string, string) {
		t.Helper()
		var kind, data string
		for {
			l, err := lines.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			l = strings.TrimSpace(l)
			switch {
			case strings.HasPrefix(l, "event: "):
				kind = strings.TrimPrefix(l, "event: ")
			case strings.HasPrefix(l, "data: "):
				data = strings.TrimPrefix(l, "data: ")
			case l == "" && kind != "":
				return kind, data
			}
		}
	}
	kind, data := read()
	var snap snapshot
	if kind != "snapshot" || json.Unmarshal([]byte(data), &snap) != nil || len(snap.Seconds) != 1 || !snap.Info.Streams {
		t.Fatalf("first event %s: %s", kind, data)
	}
	h.Event(runner.Tick{Second: second(2)})
	if kind, data = read(); kind != "second" || !strings.Contains(data, `"t":2`) {
		t.Errorf("next event %s: %s", kind, data)
	}

	post := func(path, body string, command bool) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		if command {
			req.Header.Set("X-Capfinder-By", "command")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/api/load", `{"concurrency": 7}`, false); code != http.StatusAccepted {
		t.Errorf("load from the page: %d", code)
	}
	if code := post("/api/load", `{"concurrency": 9}`, true); code != http.StatusAccepted {
		t.Errorf("load from the command: %d", code)
	}
	if code := post("/api/load", `nonsense`, false); code != http.StatusBadRequest {
		t.Errorf("a bad body: %d", code)
	}
	if code := post("/api/stop", ``, true); code != http.StatusAccepted {
		t.Errorf("stop: %d", code)
	}
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if len(ctl.loads) != 2 || ctl.loads[0] != (runner.Load{Concurrency: 7, By: "page"}) || ctl.loads[1] != (runner.Load{Concurrency: 9, By: "command"}) || ctl.stops != 1 {
		t.Errorf("loads %+v, stops %d", ctl.loads, ctl.stops)
	}
}

// With a token, nothing is served without it: not the page, the stream,
// the controls or /metrics.
func TestHubRefusesWithoutItsToken(t *testing.T) {
	ctl := &control{}
	h := New(Info{Mode: "rate", Steer: "rate"}, "s3cret", ctl.hooks())
	h.Event(runner.Tick{Second: second(1)})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	for _, path := range []string{"/", "/events", "/api/state", "/metrics", "/chart.js"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d", path, resp.StatusCode)
		}
	}
	resp, err := http.Post(srv.URL+"/api/stop?token=wrong", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || ctl.stops != 0 {
		t.Errorf("stop with a wrong token: %d, %d stops", resp.StatusCode, ctl.stops)
	}
	resp, err = http.Get(srv.URL + "/metrics?token=s3cret")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"capfinder_requests_sent_total 10", `capfinder_errors_total{class="status 503"} 1`, `capfinder_step{phase="fixed"} 1`,
		"capfinder_offered_qps 10", "capfinder_achieved_qps 9", `capfinder_latency_seconds{quantile="0.99"} 0.02`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics has no %q:\n%s", want, b)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<script src=\"chart.js\">") || strings.Contains(string(page), "http://") || strings.Contains(string(page), "https://") {
		t.Errorf("the page with a bearer token: %d; it must load nothing from a network", resp.StatusCode)
	}
}

// The decisions narrow the bracket: above the highest load that passed,
// below the lowest above it that failed.
func TestBracketNarrows(t *testing.T) {
	step := func(qps float64, v string) Step {
		return Step{SummaryStep: rundir.SummaryStep{OfferedQPS: qps, Verdict: v}}
	}
	for _, c := range []struct {
		steps []Step
		want  string
	}{
		{nil, ""},
		{[]Step{step(100, "pass")}, "; the capacity is at least 100/s"},
		{[]Step{step(100, "pass"), step(200, "fail")}, "; the capacity lies between 100 and 200/s"},
		{[]Step{step(100, "pass"), step(200, "fail"), step(150, "pass"), step(175, "fail")}, "; the capacity lies between 150 and 175/s"},
		{[]Step{step(100, "fail")}, ""},
	} {
		if got := bracketOf(c.steps); got != c.want {
			t.Errorf("%v: %q, want %q", c.steps, got, c.want)
		}
	}
}

// A page too slow for its stream is let go rather than left to miss
// events: its stream ends, and a reconnecting page gets the snapshot.
func TestHubLetsASlowPageGo(t *testing.T) {
	h := New(Info{Mode: "rate"}, "", (&control{}).hooks())
	c := make(chan []byte, 1)
	h.subs[c] = struct{}{}
	h.Event(runner.Tick{Second: second(1)})
	h.Event(runner.Tick{Second: second(2)})
	if _, ok := h.subs[c]; ok {
		t.Fatal("a page whose buffer is full still subscribed")
	}
	<-c // the first second
	if _, ok := <-c; ok {
		t.Error("the slow page's stream was not ended")
	}
}
