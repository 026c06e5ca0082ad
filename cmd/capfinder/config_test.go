package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/datasets/datasetstest"
	"github.com/capfinder/capfinder/probe/probetest"
	"github.com/capfinder/capfinder/probe/rundir"
)

// checkTarget is a loopback target that records what it is sent — every
// body, the headers named in watch, the most requests in flight at once —
// and serves data files under /data/ for configs that name URLs.
type checkTarget struct {
	url   string
	watch []string

	mu       sync.Mutex
	bodies   map[string]int
	headers  map[string]map[string]int // header → value → requests
	requests int

	inflight, peak atomic.Int64
}

func newCheckTarget(t *testing.T, delay time.Duration, data map[string][]byte, watch ...string) *checkTarget {
	t.Helper()
	ct := &checkTarget{watch: watch, bodies: map[string]int{}, headers: map[string]map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := strings.CutPrefix(r.URL.Path, "/data/"); ok {
			if b, ok := data[name]; ok {
				w.Write(b)
				return
			}
			http.NotFound(w, r)
			return
		}
		n := ct.inflight.Add(1)
		defer ct.inflight.Add(-1)
		for p := ct.peak.Load(); n > p && !ct.peak.CompareAndSwap(p, n); p = ct.peak.Load() {
		}
		body, _ := io.ReadAll(r.Body)
		ct.mu.Lock()
		ct.requests++
		ct.bodies[string(body)]++
		for _, h := range ct.watch {
			if ct.headers[h] == nil {
				ct.headers[h] = map[string]int{}
			}
			ct.headers[h][strings.Join(r.Header.Values(h), "|")]++
		}
		ct.mu.Unlock()
		time.Sleep(delay)
	}))
	t.Cleanup(srv.Close)
	ct.url = srv.URL
	return ct
}

// TestRunEASConfigs runs each example bench_desc of the EAS manual —
// single content, several paths, a zip, and the auto, scan and manual
// modes — with service.url added, against a target that checks it gets
// exactly the payloads and headers the file names.
func TestRunEASConfigs(t *testing.T) {
	xgb := "W1sxLDAsMCwwLDEsMSwwLDEsMCwxLDEsMCwwLDEsMCwxLDAsMSwwLDAsMSwxLDEsMCwxLDEsMCwwLDAsMSwxLDEsMCwxLDEsMSwxLDAsMSwxLDEsMCwxLDAsMCwwLDEsMSwwLDAsMCwxLDAsMSwwLDEsMCwwLDEsMCwwLDEsMCwxLDAsMCwxLDAsMCwwLDAsMSwwLDEsMCwxLDAsMCwxLDEsMSwwLDAsMSwwLDAsMCwwLDEsMSwxLDAsMSwxLDAsMCwxLDAsMSwwLDEsMSwxLDEsMCwxLDAsMCwxLDEsMSwxLDAsMCwwLDEsMSwwXV0K"
	decoded, err := base64.StdEncoding.DecodeString(xgb)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{
		"test1.bin":      []byte("\x00\x01first"),
		"test2.bin":      []byte("second\n"),
		"warmup.tf.bin":  []byte("warm-up tensor"),
		"batch.zip":      datasetstest.Zip(t, map[string]string{"req/a.json": `{"a":1}`, "req/b.json": `{"b":2}`}),
		"lines.txt":      []byte("{\"q\":1}\n{\"q\":2}\r\n\n{\"q\":3}\n"),
		"unused-by-runs": []byte("never sent"),
	}
	localZip := filepath.Join(t.TempDir(), "local.zip")
	if err := os.WriteFile(localZip, datasetstest.Zip(t, map[string]string{"x": "from a local zip"}), 0o644); err != nil {
		t.Fatal(err)
	}
	short := []string{"--duration", "2s", "--step-duration", "1s", "--warmup", "100ms", "--adjust-interval", "1s", "--min-qps", "40", "--max-qps", "80", "-q"}
	for _, c := range []struct {
		name    string
		desc    string // %[1]s is the target's URL
		flags   []string
		bodies  []string
		headers map[string]string
		delay   time.Duration
		check   func(t *testing.T, s runner.Spec, ct *checkTarget)
	}{
		{
			name:   "single content",
			desc:   `{"service": {"serviceName": "xgb_test", "url": "%[1]s/api/predict/xgb_test"}, "data": {"content": "` + xgb + `"}}`,
			flags:  short,
			bodies: []string{string(decoded)},
		},
		{
			name: "multiple paths with headers",
			desc: `{"service": {"serviceName": "xgb_test", "url": "%[1]s/"},
			        "data": {"path": "%[1]s/data/test1.bin,%[1]s/data/test2.bin"},
			        "http": {"headers": ["Authorization:aaa", "Content-Type:text"], "timeout": 5000}}`,
			flags:   short,
			bodies:  []string{"\x00\x01first", "second\n"},
			headers: map[string]string{"Authorization": "aaa", "Content-Type": "text"},
			check: func(t *testing.T, s runner.Spec, _ *checkTarget) {
				if s.Timeout != 5*time.Second {
					t.Errorf("timeout %v, want the file's 5000 ms", s.Timeout)
				}
			},
		},
		{
			name:   "zip by URL, split by line",
			desc:   `{"service": {"url": "%[1]s/"}, "data": {"path": "%[1]s/data/batch.zip,%[1]s/data/lines.txt", "multiLine": true}}`,
			flags:  short,
			bodies: []string{`{"a":1}`, `{"b":2}`, `{"q":1}`, `{"q":2}`, `{"q":3}`},
		},
		{
			name:   "local zip beside the config",
			desc:   `{"service": {"url": "%[1]s/"}, "data": {"path": "local.zip"}}`,
			flags:  short,
			bodies: []string{"from a local zip"},
		},
		{
			name:   "auto mode",
			desc:   `{"service": {"serviceName": "demo", "url": "%[1]s/"}, "data": {"path": "%[1]s/data/warmup.tf.bin"}, "optional": {"maxQPS": 1000, "duration": 300}}`,
			flags:  []string{"--duration", "2s", "--step-duration", "1s", "--warmup", "100ms", "--min-qps", "40", "-q"},
			bodies: []string{"warm-up tensor"},
			check: func(t *testing.T, s runner.Spec, _ *checkTarget) {
				if s.Mode != "auto" || s.MaxQPS != 1000 || s.Service != "demo" {
					t.Errorf("mode %q max-qps %g service %q, want auto, the file's 1000 and demo", s.Mode, s.MaxQPS, s.Service)
				}
			},
		},
		{
			name: "scan mode",
			desc: `{"service": {"serviceName": "demo", "url": "%[1]s/"}, "data": {"content": "aGVsbG8K"},
			        "optional": {"mode": "scan", "maxQPS": 1000, "minQPS": 50, "qpsGrowthDelta": 100, "adjustInterval": 30, "maxRT": 500, "faultTolerate": 0.01, "faultAction": "stop"}}`,
			flags:  []string{"--duration", "2s", "--adjust-interval", "1s", "--warmup", "100ms", "-q"},
			bodies: []string{"hello\n"},
			check: func(t *testing.T, s runner.Spec, _ *checkTarget) {
				if s.Mode != "scan" || s.MinQPS != 50 || s.MaxQPS != 1000 || s.QPSGrowthDelta != 100 || s.MaxRT != 500*time.Millisecond ||
					s.FaultTolerate != 0.01 || s.FaultAction != "stop" {
					t.Errorf("resolved %+v, not the file's scan settings", s)
				}
				if s.AdjustInterval != time.Second {
					t.Errorf("adjust interval %v: the flag should override the file's 30 s", s.AdjustInterval)
				}
			},
		},
		{
			name:   "manual mode",
			desc:   `{"service": {"serviceName": "demo", "url": "%[1]s/"}, "data": {"content": "aGVsbG8K"}, "optional": {"mode": "manual", "agentCount": 1, "concurrency": 5}}`,
			flags:  []string{"--duration", "1s", "--step-duration", "1s", "-q"},
			bodies: []string{"hello\n"},
			delay:  20 * time.Millisecond,
			check: func(t *testing.T, s runner.Spec, ct *checkTarget) {
				if s.Mode != "manual" || s.Concurrency != 5 {
					t.Errorf("mode %q concurrency %d, want manual with 5", s.Mode, s.Concurrency)
				}
				if p := ct.peak.Load(); p != 5 {
					t.Errorf("%d requests in flight at most, want the 5 of one agent", p)
				}
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var watch []string
			for h := range c.headers {
				watch = append(watch, h)
			}
			ct := newCheckTarget(t, c.delay, data, watch...)
			// Configs sit beside the local zip, which they name relatively.
			cfg := filepath.Join(filepath.Dir(localZip), strings.ReplaceAll(c.name, " ", "-")+".json")
			if err := os.WriteFile(cfg, fmt.Appendf(nil, c.desc, ct.url), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "run")
			code, stdout, stderr := runCLI(t, context.Background(), append([]string{"run", "--config", cfg, "--out", out}, c.flags...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			ct.mu.Lock()
			defer ct.mu.Unlock()
			var got []string
			for b := range ct.bodies {
				got = append(got, b)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(c.bodies))
			if !slices.Equal(got, want) {
				t.Errorf("the target got bodies %q, want exactly %q", got, want)
			}
			for h, v := range c.headers {
				if n := ct.headers[h][v]; n != ct.requests {
					t.Errorf("%s: %q on %d of %d requests (%v)", h, v, n, ct.requests, ct.headers[h])
				}
			}
			var rj rundir.RunInfo
			if err := rundir.ReadJSON(filepath.Join(out, rundir.RunJSON), &rj); err != nil {
				t.Fatal(err)
			}
			if rj.Spec.Config != cfg {
				t.Errorf("run.json names config %q, want %q", rj.Spec.Config, cfg)
			}
			// Requests cancelled at the end may or may not have reached it.
			if r := readSummary(t, out).Requests; int64(ct.requests) > r.Sent || int64(ct.requests) < r.Sent-r.Canceled {
				t.Errorf("the target got %d requests; %d were sent, %d of them cancelled at the end", ct.requests, r.Sent, r.Canceled)
			}
			if c.check != nil {
				c.check(t, rj.Spec, ct)
			}
		})
	}
}

// TestRunProfile runs a load profile — a constant stage, a ramp from
// zero, a staircase — and checks the run follows the plan step by step
// and is analysed like any run.
func TestRunProfile(t *testing.T) {
	url := serveQueue(t, probetest.QueueConfig{Workers: 8, ServiceTime: time.Millisecond, Seed: 1})
	prof := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(prof, []byte(`{"stages": [
		{"name": "warm", "duration": "1s", "rate": 100},
		{"name": "ramp", "duration": 2, "from": 0, "to": 200},
		{"name": "stairs", "duration": "2s", "from": 100, "to": 200, "steps": 2}
	]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runCLI(t, context.Background(), "run", "--profile", prof, "--step-duration", "1s", "--warmup", "100ms", "--out", out, url)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "0→100/s") || !strings.Contains(stdout, "sustained:") {
		t.Errorf("progress does not show the ramp, or the answer is missing:\n%s\n%s", stderr, stdout)
	}
	sum := readSummary(t, out)
	want := []struct {
		phase   string
		offered float64
	}{{"warm", 100}, {"ramp", 50}, {"ramp", 150}, {"stairs", 100}, {"stairs", 200}}
	if sum.Mode != "profile" || sum.Status != "finished" || len(sum.Steps) != len(want) {
		t.Fatalf("mode %q status %q with %d steps, want a finished profile of %d", sum.Mode, sum.Status, len(sum.Steps), len(want))
	}
	for i, st := range sum.Steps {
		if st.Phase != want[i].phase || st.OfferedQPS != want[i].offered {
			t.Errorf("step %d: %s at %g/s, want %s at %g/s", i+1, st.Phase, st.OfferedQPS, want[i].phase, want[i].offered)
		}
		// Each step lasts a second: it sends its mean rate's worth, and a
		// little more when the timer ending it fires late on a busy machine.
		if n := float64(st.Sent); n < want[i].offered-3 || n > 1.25*want[i].offered+3 {
			t.Errorf("step %d sent %d, want %g", i+1, st.Sent, want[i].offered)
		}
	}
	if sum.Capacity.QPS != 200 {
		t.Errorf("sustained %g req/s, want the highest step's 200", sum.Capacity.QPS)
	}
}

// FuzzReadConfig feeds arbitrary bytes to the bench_desc reader: it never
// panics, and what it accepts sets only run flags that exist, to values
// those flags take.
func FuzzReadConfig(f *testing.F) {
	f.Add([]byte(`{"service": {"url": "http://127.0.0.1:9/"}, "data": {"content": "aGVsbG8K", "multiLine": true}, "http": {"headers": ["A:b"], "timeout": 5000}, "optional": {"mode": "manual", "agentCount": 2, "concurrency": 3, "maxRT": 50.5}}`))
	f.Add([]byte(`{"optional": {"maxQps": 1}}`))
	f.Add([]byte(`{"optional": {"duration": -1e308}}`))
	f.Add([]byte(`[]`))
	flags := map[string]bool{}
	for _, fl := range runFlags() {
		for _, n := range fl.Names() {
			flags[n] = true
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "bench.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := runner.ReadBenchDesc(p)
		if err != nil {
			return
		}
		var s runner.Spec
		for name := range d.Apply(&s, func(string) bool { return false }) {
			if !flags[name] {
				t.Fatalf("the config sets %q, which is no run flag", name)
			}
		}
	})
}
