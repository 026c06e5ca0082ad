package store

import (
	"cmp"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/capfinder/capfinder/probe/rundir"
)

func testRecords(n int) []rundir.Record {
	recs := make([]rundir.Record, n)
	for i := range recs {
		recs[i] = rundir.Record{
			Step: int32(i / 100), OfferedQPS: 100, ScheduledNs: int64(i) * 1e6,
			SentNs: int64(i)*1e6 + 10, EndNs: int64(i)*1e6 + 5e5, Status: 200,
			BytesIn: int64(i % 7), Payload: int64(i),
		}
		if i%13 == 0 {
			recs[i].Status, recs[i].Error = 503, rundir.ErrStatus
		}
	}
	return recs
}

// record writes recs into dir with a recorder of opts, in writes of at
// most batch records, closes it and returns it.
func record(t *testing.T, dir string, opts RecorderOptions, recs []rundir.Record, batch int) *Recorder {
	t.Helper()
	r, err := NewRecorder(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for b := range slices.Chunk(recs, batch) {
		if err := r.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRecorderRoundTripAcrossParts(t *testing.T) {
	dir := t.TempDir()
	want := testRecords(3500)
	r := record(t, dir, RecorderOptions{MaxRows: 1000, RowGroupRows: 300, Metadata: map[string]string{"run.mode": "auto"}}, want, 700)
	parts, err := Parts(dir)
	if err != nil {
		t.Fatal(err)
	}
	// 3500 rows at 1000 a part: three full parts and one of 500.
	if len(parts) != 4 {
		t.Fatalf("%d parts, want 4: %v", len(parts), parts)
	}
	var got []rundir.Record
	if err := readAll(dir, func(b []rundir.Record) error { got = append(got, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || r.Rows() != int64(len(want)) {
		t.Fatalf("read %d rows, wrote %d (Rows %d)", len(got), len(want), r.Rows())
	}
	// Parts are read in parallel: the batches come in any order.
	slices.SortFunc(got, func(a, b rundir.Record) int { return cmp.Compare(a.Payload, b.Payload) })
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: got %+v want %+v", i, got[i], want[i])
		}
	}
	meta, err := ReadMetadata(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if meta["run.mode"] != "auto" {
		t.Errorf("metadata %v lacks run.mode", meta)
	}
}

func TestRecorderRotatesByAge(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(0, 0)
	r, err := NewRecorder(dir, RecorderOptions{MaxAge: time.Second, now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	recs := testRecords(10)
	for i := range recs {
		if err := r.Write(recs[i : i+1]); err != nil {
			t.Fatal(err)
		}
		now = now.Add(400 * time.Millisecond)
	}
	// The open part survives a crash only as a file no glob matches.
	parts, _ := Parts(dir)
	open, _ := filepath.Glob(filepath.Join(dir, rundir.PartsDir, "*.open"))
	if len(open) != 1 {
		t.Errorf("%d open parts before Close, want 1", len(open))
	}
	var n int
	if err := readAll(dir, func(b []rundir.Record) error { n += len(b); return nil }); err != nil {
		t.Fatal(err)
	}
	// A part closes at the write that finds it a second old: writes come
	// every 0.4 s, so each part takes four rows (0, 0.4, 0.8, 1.2 s).
	if len(parts) != 2 || n != 8 {
		t.Errorf("%d closed parts with %d rows before Close, want 2 with 8", len(parts), n)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	parts, _ = Parts(dir)
	if len(parts) != 3 {
		t.Errorf("%d parts after Close, want 3", len(parts))
	}
}

func TestRecorderEmptyRunLeavesNoPart(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRecorder(dir, RecorderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, rundir.PartsDir))
	if len(entries) != 0 {
		t.Errorf("an empty run left %d files", len(entries))
	}
}

func TestWriteParquetSteps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "steps.parquet")
	rows := []rundir.StepRow{{Step: 1, Phase: "grow", OfferedQPS: 100, Verdict: "pass"}, {Step: 2, Phase: "grow", OfferedQPS: 200, Verdict: "fail", LimitedBy: "max_rt"}}
	if err := WriteParquet(path, rows, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	meta, err := ReadMetadata(path)
	if err != nil || meta["k"] != "v" {
		t.Fatalf("metadata %v, %v", meta, err)
	}
}

func BenchmarkRecorderWrite(b *testing.B) {
	r, err := NewRecorder(b.TempDir(), RecorderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	recs := testRecords(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := r.Write(recs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "rows/s")
}

// readAll streams the records of the run in dir to fn.
func readAll(dir string, fn func([]rundir.Record) error) error {
	r, err := Open(dir)
	if err != nil {
		return err
	}
	return r.Records(fn)
}

// Reading many small parts costs memory in proportion to their rows, not
// to the batch: parquet-go, asked for more rows than a part has left,
// allocates a page header for each missing one (59 MB for a part of 526
// rows read into a batch of 8192).
func TestSmallPartsReadCheaply(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRecorder(dir, RecorderOptions{MaxRows: 500})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Write(testRecords(5000)); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 0
	if err := readAll(dir, func(b []rundir.Record) error { n += len(b); return nil }); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// The batches themselves are 2 × GOMAXPROCS × 8192 records of about
	// 200 bytes; ten parts of 500 rows need little beyond them.
	batches := uint64(2*min(runtime.GOMAXPROCS(0), 10)*batchRows) * uint64(unsafe.Sizeof(rundir.Record{}))
	if n != 5000 {
		t.Fatalf("read %d rows, want 5000", n)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > batches+32<<20 {
		t.Errorf("reading 10 parts of 500 rows allocated %d MB, over the batches' %d MB and 32 MB more", got>>20, batches>>20)
	}
}

// The parts of agents go to requests/agent=<i>/; Parts lists them after
// requests/' own, by agent index, and a run reads them all.
func TestRecorderSubdirOfAgents(t *testing.T) {
	dir := t.TempDir()
	recs := testRecords(1000)
	record(t, dir, RecorderOptions{MaxRows: 150}, recs[:300], 100)
	for k, i := range []int{10, 2, 3} {
		from := 300 + 200*k
		r := record(t, dir, RecorderOptions{MaxRows: 150, Subdir: rundir.AgentDir(i)}, recs[from:from+200], 100)
		if r.Rows() != 200 {
			t.Errorf("agent %d wrote %d rows, want 200", i, r.Rows())
		}
	}
	parts, err := Parts(dir)
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, p := range parts {
		r, _ := filepath.Rel(filepath.Join(dir, rundir.PartsDir), p)
		rel = append(rel, filepath.ToSlash(r))
	}
	want := []string{
		"part-00000.parquet", "part-00001.parquet",
		"agent=2/part-00000.parquet", "agent=2/part-00001.parquet",
		"agent=3/part-00000.parquet", "agent=3/part-00001.parquet",
		"agent=10/part-00000.parquet", "agent=10/part-00001.parquet",
	}
	if !slices.Equal(rel, want) {
		t.Errorf("parts %q, want %q", rel, want)
	}
	for _, p := range parts {
		i, ok := PartAgent(p)
		if want := strings.HasPrefix(filepath.Base(filepath.Dir(p)), "agent="); ok != want || (ok && rundir.AgentDir(i) != filepath.Base(filepath.Dir(p))) {
			t.Errorf("PartAgent(%s) = %d, %v", p, i, ok)
		}
	}
	var got []rundir.Record
	if err := readAll(dir, func(b []rundir.Record) error { got = append(got, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b rundir.Record) int { return cmp.Compare(a.Payload, b.Payload) })
	if !slices.Equal(got, recs[:900]) {
		t.Errorf("read %d rows, want the 900 of requests/ and three agents", len(got))
	}
}

// A directory that Parts would not list is no place for parts; one named
// like an agent's but not one (agent=01, agent=x) is not listed.
func TestRecorderRefusesAnotherSubdir(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"../elsewhere", "agents", "agent=-1", "agent=01", "agent=1/x", "/tmp"} {
		if _, err := NewRecorder(dir, RecorderOptions{Subdir: sub}); err == nil {
			t.Errorf("Subdir %q accepted", sub)
		}
	}
	record(t, dir, RecorderOptions{}, testRecords(10), 10)
	part, err := os.ReadFile(filepath.Join(dir, rundir.PartsDir, "part-00000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stray := range []string{"agent=01", "agent=x"} {
		if err := os.MkdirAll(filepath.Join(dir, rundir.PartsDir, stray), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rundir.PartsDir, stray, "part-00000.parquet"), part, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	parts, _ := Parts(dir)
	if len(parts) != 1 {
		t.Errorf("parts %q, want requests/part-00000.parquet alone", parts)
	}
}
