package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfinder/capfinder/probe/rundir"
)

// agentDir writes the directory of agent i of run id: agent.json and n
// records in parts of at most 100 rows.
func agentDir(t *testing.T, id string, i, agents, n int) string {
	t.Helper()
	dir := t.TempDir()
	if err := rundir.WriteJSON(filepath.Join(dir, rundir.AgentJSON), rundir.AgentInfo{RunID: id, Index: i, Agents: agents}); err != nil {
		t.Fatal(err)
	}
	recs := testRecords(n)
	for k := range recs {
		recs[k].Agent = int32(i)
	}
	record(t, dir, RecorderOptions{MaxRows: 100, Subdir: rundir.AgentDir(i)}, recs, n)
	return dir
}

func TestGatherCopiesEachAgentsParts(t *testing.T) {
	run := t.TempDir()
	fleet := rundir.Fleet{RunID: "r1", Agents: 3}
	a0, a2 := agentDir(t, "r1", 0, 3, 250), agentDir(t, "r1", 2, 3, 120)
	got, err := Gather(run, fleet, []string{a2, a0})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Agent.Index != 2 || got[0].Parts != 2 || got[0].Copied != 2 || got[0].Rows != 120 ||
		got[1].Agent.Index != 0 || got[1].Parts != 3 || got[1].Copied != 3 || got[1].Rows != 250 {
		t.Errorf("gathered %+v; want agent 2 (2 parts, 120 rows) and agent 0 (3 parts, 250 rows), all copied", got)
	}
	parts, _ := Parts(run)
	if len(parts) != 5 {
		t.Errorf("the run holds %d parts, want 5: %q", len(parts), parts)
	}
	var n int
	if err := readAll(run, func(b []rundir.Record) error { n += len(b); return nil }); err != nil || n != 370 {
		t.Errorf("read %d rows (%v), want 370", n, err)
	}
	// Again, with the parts there: nothing copied, nothing refused.
	got, err = Gather(run, fleet, []string{a0, a2})
	if err != nil || got[0].Copied != 0 || got[1].Copied != 0 || got[0].Parts != 3 {
		t.Errorf("gathering again: %+v, %v; want the parts found there, none copied", got, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(run, rundir.PartsDir, "*", "*.tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %q", leftovers)
	}
}

// A directory that does not belong in the run is refused before
// anything is copied, saying why.
func TestGatherRefuses(t *testing.T) {
	fleet := rundir.Fleet{RunID: "r1", Agents: 2}
	good := agentDir(t, "r1", 0, 2, 50)
	other := agentDir(t, "r2", 1, 2, 50)
	outside := agentDir(t, "r1", 2, 2, 50)
	counted := agentDir(t, "r1", 1, 3, 50)
	twice := agentDir(t, "r1", 0, 2, 50)
	// A directory that holds another agent's parts beside its own.
	mixed := agentDir(t, "r1", 1, 2, 50)
	if err := os.Rename(filepath.Join(mixed, rundir.PartsDir, rundir.AgentDir(1)), filepath.Join(mixed, rundir.PartsDir, rundir.AgentDir(0))); err != nil {
		t.Fatal(err)
	}
	// A run that already holds agent 1's parts, but other ones.
	held := t.TempDir()
	record(t, held, RecorderOptions{MaxRows: 100, Subdir: rundir.AgentDir(1)}, testRecords(30), 30)
	// A run that holds agent 1's parts and one more.
	longer := agentDir(t, "r1", 1, 2, 150)
	for _, c := range []struct {
		name   string
		run    string
		agents []string
		want   string
	}{
		{"no agent.json", t.TempDir(), []string{good, t.TempDir()}, "not an agent's directory"},
		{"another run", t.TempDir(), []string{good, other}, `agent 1 of run "r2", not of this run ("r1")`},
		{"index outside", t.TempDir(), []string{good, outside}, "agent index 2 is outside the run's 2 agents (0 to 1)"},
		{"another count", t.TempDir(), []string{good, counted}, "agent.json counts 3 agents, the run 2"},
		{"index twice", t.TempDir(), []string{good, twice}, "agent 0 was given twice (also " + good + ")"},
		{"parts of another agent", t.TempDir(), []string{good, mixed}, "holds requests/agent=0/part-00000.parquet, where agent 1's parts are requests/agent=1/"},
		{"a part differs", held, []string{good, agentDir(t, "r1", 1, 2, 50)}, "requests/agent=1/part-00000.parquet differs from the run's file of that name"},
		{"the run holds more", longer, []string{good, agentDir(t, "r1", 1, 2, 100)}, "the run holds requests/agent=1/part-00001.parquet, which this directory lacks"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := Parts(c.run)
			_, err := Gather(c.run, fleet, c.agents)
			var ge *GatherError
			if !errors.As(err, &ge) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want a GatherError saying %q", err, c.want)
			}
			after, _ := Parts(c.run)
			if len(after) != len(before) {
				t.Errorf("the run held %d parts, and %d after the refusal: something was copied", len(before), len(after))
			}
		})
	}
}
