package analysis

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

func TestSeqCheck(t *testing.T) {
	type row struct {
		seq  int64
		turn int32
	}
	for _, c := range []struct {
		name                 string
		rows                 []row
		dups, firstDup, gaps int64
	}{
		// Every arrival once, in any order: nothing to say.
		{"whole", []row{{3, 0}, {1, 0}, {2, 0}}, 0, 0, 0},
		// 2 and 5 dropped; the numbers past the largest are not known.
		{"gaps", []row{{1, 0}, {3, 0}, {4, 0}, {6, 0}}, 0, 0, 2},
		// The later turns carry their conversation's seq: no duplicate.
		{"turns", []row{{1, 0}, {1, 1}, {1, 2}, {2, 0}, {2, 1}}, 0, 0, 0},
		// A later turn without its first does not fill a gap.
		{"turn without its first", []row{{1, 0}, {2, 1}, {3, 0}}, 0, 0, 1},
		// A first turn twice and a later turn twice, the lowest seq named.
		{"duplicates", []row{{9, 0}, {4, 0}, {4, 1}, {9, 0}, {4, 1}, {4, 0}, {4, 0}}, 4, 4, 7},
		// Rows recorded before seq existed (seq 0) are not checked.
		{"unnumbered", []row{{0, 0}, {0, 0}, {0, 1}}, 0, 0, 0},
		// Numbers on either side of a word of bits, and of the flat array.
		{"word edges", []row{{63, 0}, {64, 0}, {64, 0}, {flatSeqs - 1, 0}, {flatSeqs, 0}, {flatSeqs, 0}}, 2, 64, flatSeqs - 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSeqCheck()
			for _, r := range c.rows {
				s.add(r.seq, r.turn)
			}
			if s.dups != c.dups || s.firstDup != c.firstDup || s.gaps() != c.gaps {
				t.Errorf("duplicates %d (first seq %d), gaps %d; want %d (%d), %d", s.dups, s.firstDup, s.gaps(), c.dups, c.firstDup, c.gaps)
			}
		})
	}
}

// The check's memory is a bit per arrival for 10 M first turns, and a
// wild seq (damaged data) costs a map entry, not an array up to it.
func TestSeqCheckMemory(t *testing.T) {
	s := newSeqCheck()
	for seq := int64(1); seq <= 10_000_000; seq++ {
		s.add(seq, 0)
	}
	if size := 8 * cap(s.flat); size > 2<<20 {
		t.Errorf("10 M arrivals take %d bytes of bits, want under 2 MB", size)
	}
	s.add(1<<62, 0)
	if size := 8 * cap(s.flat); size > 2<<20 || len(s.sparse) != 1 {
		t.Errorf("a wild seq grew the bits to %d bytes (%d map words)", size, len(s.sparse))
	}
	if s.dups != 0 || s.arrivals != 10_000_001 {
		t.Errorf("%d duplicates of %d arrivals", s.dups, s.arrivals)
	}
}

// Two agents' parts of one run, read back together: a conversation's
// turns share its seq, step 0's calibration requests are numbered apart,
// the rows recorded by both agents are duplicates, with a warning, and
// the arrivals no first turn holds are gaps, stated in the report.
func TestReadRunChecksSeq(t *testing.T) {
	dir := t.TempDir()
	rec := func(step int32, seq int64, turn int32, agent int32) rundir.Record {
		at := int64(step)*int64(time.Second) + seq*int64(10*time.Millisecond)
		return rundir.Record{Step: step, OfferedQPS: 100, ScheduledNs: at, SentNs: at, EndNs: at + int64(time.Millisecond),
			Status: 200, Seq: seq, Turn: turn, Agent: agent, Conversation: seq}
	}
	// Calibration, on the coordinator: its own seq 1 to 5.
	var cal []rundir.Record
	for seq := range int64(5) {
		cal = append(cal, rec(0, seq+1, 0, 0))
	}
	// Agent 1 takes the odd arrivals, agent 0 the even ones, of steps 1
	// and 2 (seq 1-10, 11-20); 10 and 16 were dropped, 18 has only a
	// later turn; conversations 3 and 7 have later turns. Agent 0 also
	// recorded 7 (both turns) and 11.
	var a0, a1 []rundir.Record
	for seq := int64(1); seq <= 20; seq++ {
		step := int32(1 + (seq-1)/10)
		switch {
		case seq == 10 || seq == 16:
		case seq == 18:
			a0 = append(a0, rec(step, seq, 1, 0))
		case seq%2 == 0:
			a0 = append(a0, rec(step, seq, 0, 0))
		default:
			a1 = append(a1, rec(step, seq, 0, 1))
		}
	}
	a1 = append(a1, rec(1, 3, 1, 1), rec(1, 3, 2, 1), rec(1, 7, 1, 1))
	a0 = append(a0, rec(1, 7, 0, 0), rec(1, 7, 1, 0), rec(2, 11, 0, 0))
	for _, part := range []struct {
		sub  string
		recs []rundir.Record
	}{{"", cal}, {rundir.AgentDir(0), a0}, {rundir.AgentDir(1), a1}} {
		w, err := store.NewRecorder(dir, store.RecorderOptions{Subdir: part.sub, Metadata: map[string]string{rundir.MetaMode: "rate"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(part.recs); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	steps := []rundir.StepRow{
		{Step: 0, Phase: rundir.PhaseCalibrate, StartNs: 0, EndNs: int64(time.Second)},
		{Step: 1, Phase: "hold", OfferedQPS: 100, StartNs: int64(time.Second), EndNs: int64(1200 * time.Millisecond),
			JudgedStartNs: int64(time.Second), JudgedEndNs: int64(1200 * time.Millisecond)},
		{Step: 2, Phase: "hold", OfferedQPS: 100, StartNs: int64(2 * time.Second), EndNs: int64(2300 * time.Millisecond),
			JudgedStartNs: int64(2 * time.Second), JudgedEndNs: int64(2300 * time.Millisecond)},
	}
	if err := store.WriteParquet(filepath.Join(dir, rundir.StepsFile), steps, nil); err != nil {
		t.Fatal(err)
	}
	r, err := ReadRun(open(t, dir), ReadOptions{Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Records != int64(len(cal)+len(a0)+len(a1)) || r.Duplicates != 3 || r.DuplicateSeq != 7 || r.Gaps != 3 {
		t.Fatalf("%d rows, %d duplicates (first seq %d), %d gaps; want %d rows, 3 duplicates (7), 3 gaps (10, 16, 18)",
			r.Records, r.Duplicates, r.DuplicateSeq, r.Gaps, len(cal)+len(a0)+len(a1))
	}
	a := Analyze(r, Options{Limits: controller.DefaultLimits()})
	if q := a.Summary.Requests; q.Duplicates != 3 || q.Gaps != 3 {
		t.Errorf("summary requests %+v, want 3 duplicates and 3 gaps", q)
	}
	warned := false
	for _, w := range a.Summary.Warnings {
		warned = warned || strings.HasPrefix(w, "3 requests were recorded twice (seq 7…): parts of one agent were gathered twice")
	}
	if !warned {
		t.Errorf("warnings %q, want one on the 3 requests recorded twice", a.Summary.Warnings)
	}
	out := t.TempDir()
	if err := WriteReport(out, a, nil); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"report.md", "report.html"} {
		b, err := os.ReadFile(filepath.Join(out, page))
		if err != nil || !strings.Contains(string(b), "3 scheduled arrivals dropped or missing (gaps in seq)") {
			t.Errorf("%s (%v) does not state the gaps:\n%s", page, err, b)
		}
	}
}
