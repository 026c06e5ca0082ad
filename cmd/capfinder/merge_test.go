package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

// fleetRun makes of the recorded run in testdata/run one sent by two
// agents that did not share its directory: the run's run.json names the
// fleet and the run holds no part; each agent's directory holds its
// agent.json and the arrivals whose seq ≡ its index (mod 2), in parts of
// at most 1000 rows. It returns the run, the agents' directories and the
// rows.
func fleetRun(t *testing.T, id string) (string, []string, int) {
	t.Helper()
	src := filepath.Join("testdata", "run")
	var info rundir.RunInfo
	if err := rundir.ReadJSON(filepath.Join(src, rundir.RunJSON), &info); err != nil {
		t.Fatal(err)
	}
	info.Fleet = &rundir.Fleet{RunID: id, Agents: 2}
	run := t.TempDir()
	if err := rundir.WriteJSON(filepath.Join(run, rundir.RunJSON), info); err != nil {
		t.Fatal(err)
	}
	steps, err := os.ReadFile(filepath.Join(src, rundir.StepsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, rundir.StepsFile), steps, 0o644); err != nil {
		t.Fatal(err)
	}
	meta, err := store.ReadMetadata(filepath.Join(src, rundir.PartsDir, "part-00000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []rundir.Record
	if err := readRecords(t, src, func(b []rundir.Record) error { recs = append(recs, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	var agents []string
	for i := range 2 {
		dir := t.TempDir()
		a := rundir.AgentInfo{RunID: id, Index: i, Agents: 2, Coordinator: "127.0.0.1:7070", Start: info.Start}
		if err := rundir.WriteJSON(filepath.Join(dir, rundir.AgentJSON), a); err != nil {
			t.Fatal(err)
		}
		w, err := store.NewRecorder(dir, store.RecorderOptions{MaxRows: 1000, Metadata: meta, Subdir: rundir.AgentDir(i)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Seq%2 == int64(i) {
				r.Agent = int32(i)
				if err := w.Write([]rundir.Record{r}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		agents = append(agents, dir)
	}
	return run, agents, len(recs)
}

// merge gathers both agents' parts into the run, and the answer is the
// one the run recorded in one process; merging again changes nothing.
func TestMergeGathersAgentsIntoTheirRun(t *testing.T) {
	run, agents, rows := fleetRun(t, "run-1")
	base := t.TempDir()
	if code, stdout, stderr := runCLI(t, context.Background(), "analyze", "--out", base, filepath.Join("testdata", "run")); code != 0 {
		t.Fatalf("analyze: exit %d\n%s\n%s", code, stdout, stderr)
	}
	want := readSummary(t, base)

	code, stdout, stderr := runCLI(t, context.Background(), "merge", run, agents[1], agents[0])
	if code != 0 || stderr != "" {
		t.Fatalf("merge: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, line := range []string{
		"agent 1: 3 parts, 2998 rows from " + agents[1] + "\n",
		"agent 0: 3 parts, 2997 rows from " + agents[0] + "\n",
		"agents: 2 of 2 have parts in " + run + "\n",
		"capacity: 12.73 req/s",
		"requests: 5995 sent, 5995 recorded",
	} {
		if !strings.Contains(stdout, line) {
			t.Errorf("stdout lacks %q:\n%s", line, stdout)
		}
	}
	// Every agent part is in the run, whole, under its agent's directory.
	parts, err := store.Parts(run)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 6 {
		t.Errorf("the run holds %d parts, want the agents' 6: %q", len(parts), parts)
	}
	for _, p := range parts {
		i, ok := store.PartAgent(p)
		if !ok {
			t.Fatalf("%s is no agent's", p)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		orig, err := os.ReadFile(filepath.Join(agents[i], rundir.PartsDir, rundir.AgentDir(i), filepath.Base(p)))
		if err != nil || string(got) != string(orig) {
			t.Errorf("%s differs from agent %d's (%v)", p, i, err)
		}
	}
	sum := readSummary(t, run)
	if sum.Requests != want.Requests || sum.Capacity != want.Capacity || int(sum.Requests.Recorded) != rows {
		t.Errorf("merged: requests %+v, capacity %+v; the run in one process: %+v, %+v", sum.Requests, sum.Capacity, want.Requests, want.Capacity)
	}
	if _, err := os.Stat(filepath.Join(run, "report.html")); err != nil {
		t.Errorf("no report: %v", err)
	}
	if n := independentCount(t, run); n != int64(rows) {
		t.Errorf("DuckDB counts %d rows in the agents' parts, want %d", n, rows)
	}

	// Again: the parts are there, identical; nothing changes.
	code, stdout, stderr = runCLI(t, context.Background(), "merge", run, agents[0], agents[1])
	if code != 0 || strings.Count(stdout, "(already in the run)") != 2 {
		t.Fatalf("merging again: exit %d, want both agents found in the run\n%s\n%s", code, stdout, stderr)
	}
	again, _ := store.Parts(run)
	if again := readSummary(t, run); again.Requests != sum.Requests || again.Capacity != sum.Capacity {
		t.Errorf("merging again changed the answer: %+v %+v", again.Requests, again.Capacity)
	}
	if len(again) != len(parts) {
		t.Errorf("merging again left %d parts, want %d", len(again), len(parts))
	}
}

// Agents that come in one at a time: the run says which are missing.
func TestMergeOneAgentAtATime(t *testing.T) {
	run, agents, _ := fleetRun(t, "run-2")
	code, stdout, stderr := runCLI(t, context.Background(), "merge", run, agents[0])
	if code != 0 || !strings.Contains(stdout, "agents: 1 of 2 have parts in "+run+"; none yet from agent 1\n") {
		t.Fatalf("exit %d, want agent 1 said missing\n%s\n%s", code, stdout, stderr)
	}
	// Agent 0 sent the even arrivals, to 5994: the odd ones are gaps.
	if sum := readSummary(t, run); sum.Requests.Recorded != 2997 || sum.Requests.Gaps != 2997 {
		t.Errorf("requests %+v, want agent 0's 2997 and agent 1's 2997 arrivals before 5994 as gaps", sum.Requests)
	}
	if !strings.Contains(stdout, ", 2997 scheduled arrivals dropped or missing (gaps in seq)") {
		t.Errorf("stdout does not state the gaps:\n%s", stdout)
	}
	code, stdout, stderr = runCLI(t, context.Background(), "merge", run, agents[1])
	if code != 0 || !strings.Contains(stdout, "agents: 2 of 2 have parts") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if sum := readSummary(t, run); sum.Requests.Recorded != 5995 || sum.Requests.Gaps != 0 {
		t.Errorf("requests %+v, want all 5995 without a gap", sum.Requests)
	}
}

// What does not make one run is refused with exit 2, before anything is
// copied.
func TestMergeRefuses(t *testing.T) {
	run, agents, _ := fleetRun(t, "run-3")
	_, others, _ := fleetRun(t, "another-run")
	lone := t.TempDir()
	if err := os.CopyFS(lone, os.DirFS(filepath.Join("testdata", "run"))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no agent", []string{"merge", run}, "merge: a RUN_DIR and at least one AGENT_DIR expected; e.g. capfinder merge runs/"},
		{"not a run", []string{"merge", agents[0], agents[1]}, "is not a run directory (no run.json)"},
		{"not sent by agents", []string{"merge", lone, agents[0]}, "was not sent by agents (its run.json has no fleet)"},
		{"another run's agent", []string{"merge", run, agents[0], others[1]}, others[1] + `: agent 1 of run "another-run", not of this run ("run-3"); nothing was copied`},
		{"an agent twice", []string{"merge", run, agents[0], agents[0]}, "agent 0 was given twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, context.Background(), c.args...)
			if code != exitUsage || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q\n%s", code, stderr, exitUsage, c.want, stdout)
			}
			if parts, _ := store.Parts(run); len(parts) > 0 {
				t.Errorf("the run holds %d parts after a refusal", len(parts))
			}
		})
	}
}
