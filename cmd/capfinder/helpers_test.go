package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

func readSummary(t *testing.T, dir string) rundir.Summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s rundir.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	return s
}

// repoRoot is the module root, where tools/ lives.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// independentCount counts the rows of a run's parts with the Node Parquet
// reader in tools/parquet-reader (installed by `make tools`).
func independentCount(t *testing.T, dir string) int64 {
	t.Helper()
	reader := filepath.Join(repoRoot(t), "tools", "parquet-reader")
	if _, err := os.Stat(filepath.Join(reader, "node_modules")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the independent Parquet reader is not installed; `make tools` installs it")
		}
		t.Skip("the independent Parquet reader is not installed; run `make tools`")
	}
	out, err := exec.Command("node", filepath.Join(reader, "count.mjs"), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("independent reader: %v\n%s", err, out)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("independent reader printed %q", out)
	}
	return n
}

// checkRecorded checks that every request sent is one row, read back both
// by our reader and by an independent one.
func checkRecorded(t *testing.T, dir string, sum rundir.Summary) {
	t.Helper()
	if sum.Requests.Sent == 0 || sum.Requests.Recorded != sum.Requests.Sent {
		t.Errorf("requests %+v: every request sent must be recorded", sum.Requests)
	}
	var n int64
	if err := readRecords(t, dir, func(b []rundir.Record) error { n += int64(len(b)); return nil }); err != nil {
		t.Fatal(err)
	}
	if n != sum.Requests.Sent {
		t.Errorf("read back %d rows, %d sent", n, sum.Requests.Sent)
	}
	if m := independentCount(t, dir); m != sum.Requests.Sent {
		t.Errorf("the independent reader counts %d rows, %d sent", m, sum.Requests.Sent)
	}
}

// readRecords streams the records of the run in dir to fn.
func readRecords(t *testing.T, dir string, fn func([]rundir.Record) error) error {
	t.Helper()
	r, err := store.Open(dir)
	if err != nil {
		return err
	}
	return r.Records(fn)
}
