package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"
)

// arrival is what a shared schedule must reproduce of one request: when
// it was due after the run's first arrival, and its payload.
type arrival struct{ at, payload int64 }

// sendRate runs one Poisson step at a low rate, seeded, with payloads in
// seeded random order, from one process or from agents spawned on this
// machine, and returns each arrival by its number, and the agents that
// sent them.
func sendRate(t *testing.T, url, data string, agents int) (map[int64]arrival, map[int64]int32) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"run", "--mode", "rate", "--rate", "80", "--arrival", "poisson", "--seed", "9",
		"--duration", "3s", "--step-duration", "3s", "--data-file", data, "--multi-line", "--data-order", "random",
		"--out", out, "-q"}
	if agents > 0 {
		args = append(args, "--agents", strconv.Itoa(agents), "--spawn")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code, stdout, stderr := runBin(t, ctx, append(args, url)...); code != 0 {
		t.Fatalf("%d agents: exit %d\n%s\n%s", agents, code, stdout, stderr)
	}
	sum := readSummary(t, out)
	checkRecorded(t, out, sum)
	byseq, by := map[int64]arrival{}, map[int64]int32{}
	var first int64 = -1
	if err := readRecords(t, out, func(b []rundir.Record) error {
		for _, r := range b {
			if _, dup := byseq[r.Seq]; dup {
				t.Errorf("%d agents: arrival %d recorded twice", agents, r.Seq)
			}
			byseq[r.Seq], by[r.Seq] = arrival{r.ScheduledNs, r.Payload}, r.Agent
			if r.Seq == 1 {
				first = r.ScheduledNs
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if first < 0 {
		t.Fatalf("%d agents: the first arrival was not sent", agents)
	}
	for seq, a := range byseq {
		byseq[seq] = arrival{a.at - first, a.payload}
	}
	return byseq, by
}

// Agents sharing a schedule send, together, what one process sends: the
// same arrivals by number, at the same times, with the same payloads,
// each agent those of its residue.
func TestAgentsSendWhatOneProcessSends(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	url := startSim(t, "--workers", "8", "--service-time", "2ms") + "/"
	data := filepath.Join(t.TempDir(), "bodies.txt")
	var lines []string
	for i := range 40 {
		lines = append(lines, fmt.Sprintf(`{"n":%d}`, i))
	}
	if err := os.WriteFile(data, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	one, _ := sendRate(t, url, data, 0)
	if len(one) < 150 {
		t.Fatalf("one process sent %d requests in 3 s at 80/s", len(one))
	}
	for _, n := range []int{2, 4} {
		got, by := sendRate(t, url, data, n)
		alike, differ := 0, 0
		for seq, a := range got {
			if int64(by[seq]) != seq%int64(n) {
				t.Fatalf("%d agents: agent %d sent arrival %d", n, by[seq], seq)
			}
			if o, ok := one[seq]; ok {
				alike++
				if o != a {
					differ++
					t.Errorf("%d agents: arrival %d at %v with payload %d; one process: at %v with %d", n, seq, time.Duration(a.at), a.payload, time.Duration(o.at), o.payload)
				}
			}
		}
		// Only the last arrivals before the end may fall either side of
		// it.
		if len(got)-alike > 3 || len(one)-alike > 3 || differ > 0 {
			t.Errorf("%d agents sent %d arrivals, one process %d; %d of them alike", n, len(got), len(one), alike)
		}
	}
}

// An auto search from two agents finds the capacity one process finds,
// within the search's precision.
func TestAgentsFindTheCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	base := startSim(t, "--workers", "1", "--service-time", "10ms", "--distribution", "constant", "--queue", "-1")
	out := checkCapacity(t, base+"/", 100, "max_rt", "--max-rt", "80ms", "--agents", "2", "--spawn")
	if rs, err := filepath.Glob(filepath.Join(out, rundir.PartsDir, "agent=*")); err != nil || len(rs) != 2 {
		t.Errorf("agents' part directories %v, want agent=0 and agent=1", rs)
	}
}

// An agent killed mid-run ends the run at once: the coordinator says
// which agent it lost, keeps what was recorded, and analyze explains it;
// the other agent ends by itself.
func TestLosingAnAgentEndsTheRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	url := startSim(t, "--workers", "4", "--service-time", "2ms") + "/"
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	out := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type result struct {
		code           int
		stdout, stderr string
	}
	coord := make(chan result, 1)
	go func() {
		code, stdout, stderr := runBin(t, ctx, "run", "--mode", "rate", "--rate", "100", "--duration", "90s",
			"--step-duration", "2s", "--agents", "2", "--agent-listen", addr, "--out", out, "-q", url)
		coord <- result{code, stdout, stderr}
	}()
	agents := make([]*exec.Cmd, 2)
	ended := make([]chan error, 2)
	for i := range agents {
		agents[i] = exec.Command(capfinderBin(t), "agent", "--coordinator", addr, "--index", strconv.Itoa(i), "--out", out, "-q")
		dieWithTest(agents[i])
		if err := agents[i].Start(); err != nil {
			t.Fatal(err)
		}
		ended[i] = make(chan error, 1)
		go func() { ended[i] <- agents[i].Wait() }()
	}
	time.Sleep(5 * time.Second)
	if err := agents[1].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-coord:
	case <-time.After(time.Minute):
		t.Fatal("the coordinator did not end within a minute of losing an agent")
	}
	if r.code != exitFailed || !strings.Contains(r.stderr, "agent 1 was lost") {
		t.Errorf("coordinator: exit %d, want %d naming agent 1\n%s\n%s", r.code, exitFailed, r.stdout, r.stderr)
	}
	select {
	case <-ended[0]:
	case <-time.After(30 * time.Second):
		t.Error("agent 0 did not end after its run did")
		agents[0].Process.Kill()
	}
	code, stdout, stderr := runBin(t, ctx, "analyze", out)
	if code != 0 {
		t.Fatalf("analyze of the run that lost an agent: exit %d\n%s\n%s", code, stdout, stderr)
	}
	sum := readSummary(t, out)
	if sum.Requests.Recorded < 200 {
		t.Errorf("%d requests recorded before the agent was lost, want about 500", sum.Requests.Recorded)
	}
}

// Agents that write into their own directories leave the coordinator's
// run without their records, which it says; capfinder merge gathers them
// and explains the whole run.
func TestMergeGathersAgentsDirectories(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	url := startSim(t, "--workers", "4", "--service-time", "2ms") + "/"
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	tmp := t.TempDir()
	out := filepath.Join(tmp, "run")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dirs := []string{filepath.Join(tmp, "a0"), filepath.Join(tmp, "a1")}
	for i, d := range dirs {
		go runBin(t, ctx, "agent", "--coordinator", addr, "--index", strconv.Itoa(i), "--out", d, "-q")
	}
	code, stdout, stderr := runBin(t, ctx, "run", "--mode", "rate", "--rate", "100", "--duration", "3s",
		"--step-duration", "3s", "--agents", "2", "--agent-listen", addr, "--out", out, url)
	if code != 0 || !strings.Contains(stdout+stderr, "capfinder merge") {
		t.Fatalf("coordinator: exit %d, want 0 and the agents' records named\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runBin(t, ctx, append([]string{"merge", out}, dirs...)...)
	if code != 0 {
		t.Fatalf("merge: exit %d\n%s\n%s", code, stdout, stderr)
	}
	sum := readSummary(t, out)
	checkRecorded(t, out, sum)
	if sum.Requests.Sent < 250 || sum.Requests.Duplicates != 0 || len(sum.Steps) != 1 || sum.Steps[0].Verdict != "pass" {
		t.Errorf("merged run: %+v, steps %+v\n%s", sum.Requests, sum.Steps, stdout)
	}
}
