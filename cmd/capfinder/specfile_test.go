package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/capfinder/capfinder/controller/runner"
	"github.com/capfinder/capfinder/probe/probetest"
	"github.com/capfinder/capfinder/probe/rundir"
)

// specOf is the spec `capfinder run args...` would run, or its usage
// error.
func specOf(t *testing.T, args ...string) (runner.Spec, error) {
	t.Helper()
	var s runner.Spec
	app := &cli.App{
		Writer: io.Discard, ErrWriter: io.Discard,
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{{Name: "run", Flags: runFlags(), Action: func(c *cli.Context) (err error) {
			s, err = specFromFlags(c)
			return err
		}}},
	}
	return s, app.Run(append([]string{"capfinder", "run"}, args...))
}

// writeJSON writes v as JSON into a file of dir, and returns its path.
func writeJSON(t *testing.T, dir, name string, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A spec written to a file runs as it is: run.json's config is the spec
// (redacted, in its own run directory), and the URL comes from the file.
// Given to --spec again, that run.json is refused until the header it
// redacted is given again; then it makes the same spec.
func TestRunSpecFileRoundTrip(t *testing.T) {
	url := serveQueue(t, probetest.QueueConfig{Workers: 8, ServiceTime: time.Millisecond, Seed: 1})
	t.Setenv("CAPFINDER_TEST_TOKEN", "s3cr3t")
	dir := t.TempDir()
	want, err := specOf(t, "--mode", "rate", "--rate", "100", "--requests", "20", "--seed", "7", "--arrival", "poisson",
		"-H", "Authorization: Bearer ${CAPFINDER_TEST_TOKEN}", "-H", "Content-Type: text/plain", "--body", "@"+writeJSON(t, dir, "body.json", "hi"), url)
	if err != nil {
		t.Fatal(err)
	}
	file := writeJSON(t, dir, "spec.json", want)
	out := filepath.Join(dir, "run")
	code, stdout, stderr := runCLI(t, context.Background(), "run", "--spec", file, "--out", out, "-q")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	runJSON := filepath.Join(out, rundir.RunJSON)
	b, err := os.ReadFile(runJSON)
	if err != nil {
		t.Fatal(err)
	}
	var info rundir.RunInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	recorded := want
	recorded.Out = out
	if !reflect.DeepEqual(info.Spec, recorded.Redacted()) {
		t.Errorf("run.json's config\n%+v\nwant the spec file's\n%+v", info.Spec, recorded.Redacted())
	}
	if strings.Contains(string(b), "s3cr3t") {
		t.Error("run.json holds the header's secret")
	}

	if _, err := specOf(t, "--spec", runJSON); err == nil || !strings.Contains(err.Error(), "run: --spec "+runJSON+": header Authorization was redacted") {
		t.Errorf("a run.json with a redacted header: %v", err)
	}
	again, err := specOf(t, "--spec", runJSON, "-H", "Authorization: Bearer ${CAPFINDER_TEST_TOKEN}")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, want) {
		t.Errorf("run.json given again makes\n%+v\nwant\n%+v", again, want)
	}
}

// A flag given with --spec overrides the file's field and leaves the rest
// as the file has them, even where the flag's default differs.
func TestRunSpecFlagOverrides(t *testing.T) {
	base, err := specOf(t, "--mode", "scan", "--min-qps", "20", "--max-rt", "80ms", "--stream=false", "--api", "openai-chat",
		"-H", "Accept: text/plain", "-H", "User-Agent: file", "http://127.0.0.1:9/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	file := writeJSON(t, t.TempDir(), "spec.json", base)
	got, err := specOf(t, "--spec", file, "--max-rt", "150ms", "-H", "User-Agent: flag", "http://127.0.0.1:9/other")
	if err != nil {
		t.Fatal(err)
	}
	want := base
	want.MaxRT, want.URL = 150*time.Millisecond, "http://127.0.0.1:9/other"
	want.Header = map[string][]string{"Accept": {"text/plain"}, "User-Agent": {"flag"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("--spec with flags makes\n%+v\nwant\n%+v", got, want)
	}
}

func TestRunSpecFileRefused(t *testing.T) {
	dir := t.TempDir()
	file := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := `{"url": "http://127.0.0.1:9/", "mode": "auto", "min_qps": 1, "max_qps": 10, "adjust_interval_ns": 1000000000, "step_duration_ns": 1000000000,
  "precision": 0.02, "duration_ns": 60000000000, "rt_quantile": 0.99, "fault_action": "revise", "arrival": "constant", "timeout_ns": 1000000000, "api": "http"}`
	if _, err := specOf(t, "--spec", file("ok.json", ok)); err != nil {
		t.Fatalf("a whole spec: %v", err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown field", []string{"--spec", file("typo.json", `{"url": "http://127.0.0.1:9/", "mdoe": "auto"}`)}, `json: unknown field "mdoe"`},
		{"unknown field of a run.json", []string{"--spec", file("run.json", `{"config": {"url": "http://127.0.0.1:9/", "qps": 5}}`)}, `json: unknown field "qps"`},
		{"value of the wrong type", []string{"--spec", file("type.json", "{\"url\": \"http://127.0.0.1:9/\",\n \"min_qps\": \"fast\"}")}, "line 2, column"},
		{"missing file", []string{"--spec", filepath.Join(dir, "nope.json")}, "no such file"},
		{"no URL", []string{"--spec", file("nourl.json", strings.Replace(ok, `"url": "http://127.0.0.1:9/", `, "", 1))}, "missing the target URL"},
		{"a redacted URL", []string{"--spec", file("red.json", strings.Replace(ok, `9/"`, `9/?key=REDACTED"`, 1))}, "the target URL was redacted"},
		{"checked as flags are", []string{"--spec", file("ok.json", ok), "--max-qps", "0.5"}, "--min-qps 1 is above --max-qps 0.5"},
		{"with --config", []string{"--spec", file("ok.json", ok), "--config", file("bench.json", `{}`)}, "leave out --config"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, context.Background(), append([]string{"run"}, c.args...)...)
			if code != exitUsage || !strings.HasPrefix(stderr, "capfinder: run: ") || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want exit %d naming %q\n%s", code, stderr, exitUsage, c.want, stdout)
			}
		})
	}
}
