package main

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capfinder/capfinder/datasets/datasetstest"
	"github.com/capfinder/capfinder/probe/probetest"
	"github.com/capfinder/capfinder/probe/rundir"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// serveQueue serves a simulated target for the length of a test.
func serveQueue(t *testing.T, cfg probetest.QueueConfig) string {
	t.Helper()
	srv, err := probetest.Serve(context.Background(), "127.0.0.1:0", probetest.NewQueue(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL
}

func TestRunRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	taken := filepath.Join(dir, "taken")
	if err := os.MkdirAll(taken, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(taken, "run.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:9/"
	file := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	config := func(name, data string) []string { return []string{"run", "--config", file(name, data)} }
	empty := file("empty.txt", "\n  \n")
	emptyJSONL := file("empty.jsonl", "")
	traversal := file("evil.zip", string(datasetstest.Zip(t, map[string]string{"../../outside": "x"})))
	for _, c := range []struct {
		name string
		args []string
		want string // in the one stderr line
	}{
		{"no URL", []string{"run"}, "missing the target URL"},
		{"two URLs", []string{"run", url, url}, "one target URL expected"},
		{"not http", []string{"run", "ftp://127.0.0.1/"}, "is not an http:// or https:// URL"},
		{"no host", []string{"run", "http://"}, "is not an http:// or https:// URL"},
		{"unknown mode", []string{"run", "--mode", "fastest", url}, `unknown --mode "fastest"`},
		{"unknown fault action", []string{"run", "--fault-action", "retry", url}, `unknown --fault-action "retry"`},
		{"unknown arrival", []string{"run", "--arrival", "uniform", url}, `unknown --arrival "uniform"`},
		{"negative duration", []string{"run", "--duration", "-1m", url}, "--duration must be positive"},
		{"negative max-rt", []string{"run", "--max-rt", "-5ms", url}, "--max-rt must not be negative"},
		{"quantile a percent", []string{"run", "--rt-quantile", "99", url}, "--rt-quantile must be in (0,1)"},
		{"budget of one", []string{"run", "--fault-tolerate", "1", url}, "--fault-tolerate must be in [0,1)"},
		{"min above max", []string{"run", "--min-qps", "500", "--max-qps", "100", url}, "--min-qps 500 is above --max-qps 100"},
		{"rate mode without rate", []string{"run", "--mode", "rate", url}, "--mode rate needs --rate"},
		{"rate with a search", []string{"run", url, "--mode", "auto", "--rate", "5"}, "--rate is for --mode rate; --mode auto sets its own rate"},
		{"rate with a profile", []string{"run", "--rate", "5", "--profile", file("p0.json", `{"stages": [{"duration": 10, "rate": 5}]}`), url}, "--profile plans its own rates; leave out --rate"},
		{"burstiness out of range", []string{"run", "--arrival", "gamma", "--burstiness", "0", url}, "--burstiness must be in"},
		{"bad header", []string{"run", "-H", "no colon", url}, `header "no colon" is not "Name: value"`},
		{"unknown flag", []string{"run", "--qps", "5", url}, "flag provided but not defined: -qps"},
		{"bad number", []string{"run", "--rate", "fast", url}, "invalid value"},
		{"run dir in use", []string{"run", "--out", taken, url}, "already holds a run"},
		{"unknown command", []string{"runn", url}, `no command "runn"`},
		{"missing config", []string{"run", "--config", filepath.Join(dir, "nope.json")}, "no such file"},
		{"config of bad JSON", config("bad.json", "{\"service\": {\"url\": \"http://127.0.0.1:9/\"},\n  \"optional\": {\"maxQPS\": 10,,}}"), "line 2, column 30"},
		{"config field misspelt", config("typo.json", `{"service": {"url": "http://127.0.0.1:9/"}, "optional": {"maxQps": 10}}`), `unknown field optional.maxQps (did you mean "maxQPS"?)`},
		{"config section unknown", config("sec.json", `{"service": {"url": "http://127.0.0.1:9/"}, "extra": {}}`), "unknown field extra"},
		{"config value of the wrong type", config("type.json", `{"service": {"url": "http://127.0.0.1:9/"}, "optional": {"maxRT": "fast"}}`), "optional.maxRT: want a number"},
		{"config of an unknown mode", config("mode.json", `{"service": {"url": "http://127.0.0.1:9/"}, "optional": {"mode": "turbo"}}`), `unknown --mode "turbo"`},
		{"config of a negative duration", config("neg.json", `{"service": {"url": "http://127.0.0.1:9/"}, "optional": {"duration": -5}}`), "--duration must be positive"},
		{"config without a URL", config("nourl.json", `{"service": {"serviceName": "demo"}}`), "missing the target URL"},
		{"config of a non-http URL", config("oss.json", `{"service": {"url": "oss://bucket/x"}}`), "is not an http:// or https:// URL"},
		{"invalid base64", []string{"run", "--data-base64", "aGV*bG8K", url}, "--data-base64: invalid base64 at character 4"},
		{"missing data file", []string{"run", "--data-file", filepath.Join(dir, "nope.bin"), url}, "no such file"},
		{"empty data file", []string{"run", "--data-file", empty, "--multi-line", url}, "hold no payloads"},
		{"empty dataset", []string{"run", "--dataset", "jsonl:" + emptyJSONL, url}, "has no usable lines"},
		{"zip escaping its archive", []string{"run", "--data-file", traversal, url}, "escapes the archive"},
		{"missing body file", []string{"run", "--body", "@" + filepath.Join(dir, "nope.json"), url}, "--body: open"},
		{"two payload sources", []string{"run", "--body", "x", "--data-base64", "aGk=", url}, "--body and --data-base64 each give the requests"},
		{"multi-line without files", []string{"run", "--multi-line", url}, "--multi-line splits the files of --data-file"},
		{"unknown data order", []string{"run", "--data-file", empty, "--data-order", "sideways", url}, `unknown --data-order "sideways"`},
		{"header of an unset variable", []string{"run", "-H", "Authorization: Bearer ${CAPFINDER_TEST_UNSET}", url}, "${CAPFINDER_TEST_UNSET} is not set in the environment"},
		{"missing profile", []string{"run", "--profile", filepath.Join(dir, "nope.json"), url}, "--profile: open"},
		{"profile of bad JSON", []string{"run", "--profile", file("p1.json", `{"stages": [{"duration": "1m", "rate": 10]}`), url}, "line 1, column 43"},
		{"profile stage of a negative duration", []string{"run", "--profile", file("p2.json", `{"stages": [{"duration": "-5s", "rate": 10}]}`), url}, "stage 1 (stage1): needs a positive duration"},
		{"profile stage without a rate", []string{"run", "--profile", file("p3.json", `{"stages": [{"name": "x", "duration": 10}]}`), url}, `stage 1 (x): needs "rate"`},
		{"profile with a mode", []string{"run", "--mode", "auto", "--profile", file("p4.json", `{"stages": [{"duration": 10, "rate": 5}]}`), url}, "--profile plans its own load"},
		{"profile mode without a profile", []string{"run", "--mode", "profile", url}, "--mode profile needs --profile FILE"},
		{"analyze without a run", []string{"analyze"}, "one RUN_DIR expected"},
		{"analyze a directory that is no run", []string{"analyze", dir}, "is not a run directory"},
		{"sim without workers", []string{"sim", "http", "--workers", "0"}, "--workers must be at least 1"},
		{"sim bad distribution", []string{"sim", "http", "--distribution", "pareto"}, `unknown --distribution "pareto"`},
		{"sim bad address", []string{"sim", "http", "--listen", "127.0.0.1:99999"}, "sim http:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := os.ReadDir(".")
			code, stdout, stderr := runCLI(t, context.Background(), c.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitUsage, stdout, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "capfinder: ") || !strings.Contains(last, c.want) {
				t.Errorf("stderr %q, want a line naming %q", stderr, c.want)
			}
			// No run directory appears for a refused run.
			after, _ := os.ReadDir(".")
			if len(after) != len(before) {
				t.Errorf("a refused run left files in the working directory")
			}
		})
	}
}

func TestRunReadsFlagsAfterTheURL(t *testing.T) {
	url := serveQueue(t, probetest.QueueConfig{Workers: 8, ServiceTime: time.Millisecond, Seed: 1})
	out := filepath.Join(t.TempDir(), "run")
	// urfave/cli stops at the first positional argument; capfinder must
	// not silently drop what follows it. --rate alone means --mode rate.
	code, stdout, stderr := runCLI(t, context.Background(), "run", url+"/x", "--rate", "50", "--requests", "20", "--out", out, "-q")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if stderr != "" {
		t.Errorf("-q after the URL was ignored: stderr %q", stderr)
	}
	sum := readSummary(t, out)
	if sum.Mode != "rate" || sum.Requests.Sent != 20 || sum.Status != "finished" {
		t.Errorf("mode %q, %d sent, status %q; want rate, 20, finished", sum.Mode, sum.Requests.Sent, sum.Status)
	}
	var rj rundir.RunInfo
	if err := rundir.ReadJSON(filepath.Join(out, rundir.RunJSON), &rj); err != nil {
		t.Fatal(err)
	}
	if rj.Spec.Rate != 50 || rj.Spec.URL != url+"/x" {
		t.Errorf("run.json has rate %g url %q", rj.Spec.Rate, rj.Spec.URL)
	}
}

func TestRunRedactsSecretHeaders(t *testing.T) {
	base := serveQueue(t, probetest.QueueConfig{Workers: 8, ServiceTime: time.Millisecond, Seed: 1})
	out := filepath.Join(t.TempDir(), "run")
	// Secrets on the command line, from the environment, from a config
	// file, and in the URL's password and query.
	// Also under names that look harmless: a header from the config file,
	// one from ${VAR} under an ordinary name, a presigned data-file URL
	// and an Azure Functions key in the target's query.
	secrets := []string{"s3cr3t-flag", "s3cr3t-env", "s3cr3t-file", "s3cr3t-cookie", "s3cr3t-pass", "s3cr3t-query",
		"s3cr3t-check", "s3cr3t-agent", "s3cr3t-presigned", "s3cr3t-azure"}
	t.Setenv("CAPFINDER_TEST_TOKEN", secrets[1])
	t.Setenv("CAPFINDER_TEST_AGENT", secrets[7])
	cfg := filepath.Join(t.TempDir(), "bench.json")
	if err := os.WriteFile(cfg, []byte(`{"http": {"headers": ["X-Api-Key:`+secrets[2]+`", "Cookie: session=`+secrets[3]+`", "X-Check: `+secrets[6]+`", "Content-Type: text/visible"]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(base, "http://", "http://user:"+secrets[4]+"@", 1) + "/?api_key=" + secrets[5] + "&code=" + secrets[9] + "&model=m1"
	data := base + "/data.txt?X-Amz-Expires=300&X-Amz-Signature=" + secrets[8]
	code, stdout, stderr := runCLI(t, context.Background(), "run", "--config", cfg, "--mode", "rate", "--rate", "100", "--requests", "10",
		"-H", "Authorization: Bearer "+secrets[0], "-H", "Proxy-Authorization: ${CAPFINDER_TEST_TOKEN}",
		"-H", "User-Agent: ${CAPFINDER_TEST_AGENT}", "--data-file", data, "--out", out, url)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The offline analysis writes its own report from the recorded run.
	code, astdout, astderr := runCLI(t, context.Background(), "analyze", out)
	if code != 0 {
		t.Fatalf("analyze: exit %d\n%s\n%s", code, astdout, astderr)
	}
	printed := stdout + stderr + astdout + astderr
	files := map[string]string{}
	err := filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range secrets {
		if strings.Contains(printed, secret) {
			t.Errorf("%s was printed", secret)
		}
		for path, b := range files {
			if strings.Contains(b, secret) {
				t.Errorf("%s holds %s", path, secret)
			}
		}
	}
	rj := files[filepath.Join(out, "run.json")]
	if !strings.Contains(rj, "text/visible") || !strings.Contains(rj, "REDACTED") || !strings.Contains(rj, "model=m1") {
		t.Errorf("run.json should keep ordinary headers and query parameters and mark redacted ones:\n%s", rj)
	}
}

func TestRunInterruptedKeepsEverything(t *testing.T) {
	// One worker that takes 10 s a request: requests pile up in flight
	// and must be cancelled, not waited for, when the user presses Ctrl-C.
	url := serveQueue(t, probetest.QueueConfig{Workers: 1, ServiceTime: 10 * time.Second, Distribution: probetest.Constant, QueueLimit: -1})
	out := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		code           int
		stdout, stderr string
		at             time.Time
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := runCLI(t, ctx, "run", "--mode", "rate", "--rate", "100", "--duration", "1m", "--out", out, url)
		done <- result{code, stdout, stderr, time.Now()}
	}()
	// Interrupt once requests are on record, mid-step.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(out, "run.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	cancel()
	at := time.Now()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not stop after the interrupt")
	}
	took := r.at.Sub(at)
	t.Logf("stopped %v after the interrupt", took)
	if took > 2*time.Second {
		t.Errorf("stopped %v after the interrupt, want within 2 s", took)
	}
	if r.code != exitInterrupted || !strings.Contains(r.stderr, "interrupted") {
		t.Errorf("exit %d, stderr %q; want %d and a word on the interruption", r.code, r.stderr, exitInterrupted)
	}
	// No report was drawn, and the answer says how to draw it.
	if _, err := os.Stat(filepath.Join(out, "report.html")); err == nil || strings.Contains(r.stdout, "report.html") ||
		!strings.Contains(r.stdout, "capfinder analyze "+out) {
		t.Errorf("stdout %q, report.html: %v; want no report, and the command that draws it", r.stdout, err)
	}
	sum := readSummary(t, out)
	if sum.Status != "stopped" || sum.Requests.Sent < 100 {
		t.Errorf("status %q with %d sent; want stopped with the 1.5 s sent so far", sum.Status, sum.Requests.Sent)
	}
	checkRecorded(t, out, sum)
	if _, err := os.Stat(filepath.Join(out, "steps.parquet")); err != nil {
		t.Errorf("steps.parquet: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(out, "requests", "*.open"))
	if len(leftovers) > 0 {
		t.Errorf("parts left open: %v", leftovers)
	}
}

func TestHelpMatchesGolden(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"run", "--help"}, {"analyze", "--help"}, {"sim", "http", "--help"}, {"demo", "--help"}} {
		name := strings.ReplaceAll(strings.Join(args, "_"), "-", "") + ".golden"
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, context.Background(), args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			path := filepath.Join("testdata", name)
			if *update {
				if err := os.WriteFile(path, []byte(stdout), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestHelpMatchesGolden -update)", err)
			}
			if stdout != string(want) {
				t.Errorf("%s changed; if on purpose, run go test -run TestHelpMatchesGolden -update\ngot:\n%s", path, stdout)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "512KiB": 512 << 10, "16MiB": 16 << 20, "1.5 MB": 1500000, "2GiB": 2 << 30, "100B": 100} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "12x", "-1MiB", "0", "0.1B", "MiB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

// SIGTERM (a container or a CI job being stopped) ends a run as Ctrl-C
// does, with the partial run written, but exits 143, the shell's code for
// it.
func TestRunTerminatedExits143(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	url := serveQueue(t, probetest.QueueConfig{Workers: 8, ServiceTime: time.Millisecond, Seed: 1})
	out := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(capfinderBin(t), "run", "--mode", "rate", "--rate", "50", "--duration", "1m", "--out", out, "-q", url)
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(out, "run.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the run did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Errorf("exit %d after SIGTERM, want 143", code)
	}
	if sum := readSummary(t, out); sum.Status != "stopped" || sum.Requests.Sent == 0 {
		t.Errorf("summary %q with %d sent; want the partial run, stopped", sum.Status, sum.Requests.Sent)
	}
}

// A generator out of file descriptors is the limit itself: its steps are
// invalid, its failures of class local, never the target's.
func TestOutOfFileDescriptorsIsTheGenerators(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	url := serveQueue(t, probetest.QueueConfig{Workers: 64, ServiceTime: 20 * time.Millisecond, Seed: 1})
	out := filepath.Join(t.TempDir(), "run")
	// In a shell of its own with 40 descriptors: 100 connections cannot
	// all be opened.
	cmd := exec.Command("sh", "-c", `ulimit -n 40 && exec "$0" "$@"`, capfinderBin(t),
		"run", "--mode", "concurrency", "--concurrency", "100", "--step-duration", "1s", "--duration", "3s", "--out", out, "-q", url)
	dieWithTest(cmd)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	sum := readSummary(t, out)
	for _, st := range sum.Steps {
		if st.Verdict != "invalid" || st.Errors[rundir.ErrLocal] == 0 {
			t.Errorf("step %d: %s with failures %v; want invalid, its failures local", st.Step, st.Verdict, st.Errors)
		}
	}
	if len(sum.Steps) == 0 {
		t.Error("no step recorded")
	}
}
