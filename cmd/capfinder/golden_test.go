package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAnalyzeGolden drives `capfinder analyze` over the recorded run in
// testdata/run (written by scripts/genrun) with the run's own limits and
// with others, and compares everything it says and writes with golden
// files: its exit code, stdout, stderr, summary.json and report.md.
func TestAnalyzeGolden(t *testing.T) {
	run := filepath.Join("testdata", "run")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"own-limits", nil},
		{"other-limits", []string{"--max-rt", "500ms", "--rt-quantile", "0.9", "--target-qps", "100", "--headroom", "0.2"}},
		{"warmup", []string{"--warmup", "20s", "--fault-tolerate", "0.002"}},
		{"bad-quantile", []string{"--rt-quantile", "1.5"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			args := append(append([]string{"analyze", "--out", out}, c.args...), run)
			code, stdout, stderr := runCLI(t, context.Background(), args...)
			got := map[string]string{
				"exit":   strconv.Itoa(code) + "\n",
				"stdout": strings.ReplaceAll(stdout, out, "OUT"),
				"stderr": strings.ReplaceAll(stderr, out, "OUT"),
			}
			for _, f := range []string{"summary.json", "report.md"} {
				if b, err := os.ReadFile(filepath.Join(out, f)); err == nil {
					got[f] = string(b)
				}
			}
			checkGolden(t, filepath.Join("testdata", "golden", c.name), got)
		})
	}
}

// checkGolden compares outputs, by file name, with the golden files in
// dir, which -update rewrites.
func checkGolden(t *testing.T, dir string, got map[string]string) {
	t.Helper()
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, b := range got {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update)", err)
	}
	if len(files) != len(got) {
		t.Errorf("%d outputs, the golden files in %s hold %d", len(got), dir, len(files))
	}
	for _, f := range files {
		want, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if got[f.Name()] != string(want) {
			t.Errorf("%s changed; if on purpose, run go test -run Golden -update\ngot:\n%s\nwant:\n%s", filepath.Join(dir, f.Name()), got[f.Name()], want)
		}
	}
}

// TestCompareGolden drives `capfinder compare` over two recorded
// summaries, one a quarter slower, in every format.
func TestCompareGolden(t *testing.T) {
	base, slower := filepath.Join("testdata", "compare", "base"), filepath.Join("testdata", "compare", "slower")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"compare-text", []string{"--fail-on-regression", "5"}},
		{"compare-md", []string{"--format", "md"}},
		{"compare-json", []string{"--format", "json"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, context.Background(), append(append([]string{"compare"}, c.args...), base, slower)...)
			checkGolden(t, filepath.Join("testdata", "golden", c.name), map[string]string{
				"exit": strconv.Itoa(code) + "\n", "stdout": stdout, "stderr": stderr,
			})
		})
	}
}

// A damaged part (a disk that filled, a copy cut short) is skipped with a
// warning that names it; the rest of the run is analysed.
func TestAnalyzeSkipsADamagedPart(t *testing.T) {
	run := t.TempDir()
	if err := os.CopyFS(run, os.DirFS(filepath.Join("testdata", "run"))); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(filepath.Join(run, "requests", "part-00000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(run, "requests", "part-00001.parquet")
	if err := os.WriteFile(damaged, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, context.Background(), "analyze", run)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "part-00001.parquet") {
		t.Errorf("stderr does not name the damaged part:\n%s", stderr)
	}
	sum := readSummary(t, run)
	if !strings.Contains(strings.Join(sum.Warnings, "\n"), "part-00001.parquet") || sum.Requests.Recorded != 5995 {
		t.Errorf("summary: %d requests, warnings %q; want the 5995 of the whole part and the damaged one named", sum.Requests.Recorded, sum.Warnings)
	}
}
