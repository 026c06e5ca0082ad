package store

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/parquet-go/parquet-go"

	"github.com/capfinder/capfinder/probe/rundir"
)

// distinctRecords sets every field of every record, each field to values
// no other field holds, so that a column read into the wrong field shows.
func distinctRecords(n int) []rundir.Record {
	classes := []string{"", rundir.ErrTimeout, rundir.ErrStatus, rundir.ErrReset}
	sources := []string{"usage", "chunks", "", "text"}
	recs := make([]rundir.Record, n)
	for i := range recs {
		v := func(field int) int64 { return int64(i)*32 + int64(field) }
		recs[i] = rundir.Record{
			Step: int32(v(0)), OfferedQPS: float64(v(1)) + 0.25, ScheduledNs: v(2) << 20,
			SentNs: v(3) << 20, FirstByteNs: v(4) << 20, FirstTokenNs: v(5) << 20,
			EndNs: v(6) << 20, Status: int32(v(7)), Error: classes[i%len(classes)],
			BytesOut: v(9), BytesIn: v(10), PromptTokens: int32(v(11)),
			OutputTokens: int32(v(12)), Events: int32(v(13)), ITLMaxNs: v(14) << 20,
			LastTokenNs: v(15) << 20, Chunks: int32(v(16)), TokenSource: sources[i/3%len(sources)],
			NewConn: i%3 == 1, Payload: v(19), Agent: int32(v(20)),
			Seq: int64(i + 1), PromptAsked: int32(v(22)), CachedTokens: int32(v(23)),
			Conversation: v(24), Turn: int32(v(25)),
		}
	}
	return recs
}

// writePart writes rows as one part of the run in dir, with opts.
func writePart[T any](t *testing.T, dir string, part int, rows []T, opts ...parquet.WriterOption) string {
	t.Helper()
	path := filepath.Join(dir, rundir.PartsDir, fmt.Sprintf("part-%05d.parquet", part))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readSorted reads the run in dir whole, in the order of Seq, with the
// parts it skipped.
func readSorted(t *testing.T, dir string) ([]rundir.Record, []string) {
	t.Helper()
	run, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []rundir.Record
	if err := run.Records(func(b []rundir.Record) error { got = append(got, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b rundir.Record) int { return cmp.Compare(a.Seq, b.Seq) })
	return got, run.Skipped()
}

// Every column comes back into its field, across parts, row groups,
// pages and batches: the recorder's parts (several row groups each, one
// of more rows than a batch, so that a batch ends inside a row group), and
// a part of pages of a few dozen values each.
func TestRecordsGiveBackEveryColumn(t *testing.T) {
	want := distinctRecords(24000)
	for i := range reflect.TypeFor[rundir.Record]().NumField() {
		if !slices.ContainsFunc(want, func(r rundir.Record) bool { return !reflect.ValueOf(r).Field(i).IsZero() }) {
			t.Fatalf("distinctRecords leaves %s zero: set it, so that this test checks it is read", reflect.TypeFor[rundir.Record]().Field(i).Name)
		}
	}
	dir := t.TempDir()
	record(t, dir, RecorderOptions{MaxRows: 9000, RowGroupRows: 1000}, want[:20000], 700)
	writePart(t, dir, 3, want[20000:], parquet.PageBufferSize(256), parquet.MaxRowsPerRowGroup(1500))

	run, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []rundir.Record
	err = run.Records(func(b []rundir.Record) error {
		// A batch is of one part: its equal strings are one string.
		seen := map[string]*byte{}
		for _, rec := range b {
			for _, s := range []string{rec.Error, rec.TokenSource} {
				if p, ok := seen[s]; ok && p != unsafe.StringData(s) {
					t.Errorf("%q is held twice in a batch: a string allocated per row", s)
					return nil
				}
				seen[s] = unsafe.StringData(s)
			}
		}
		got = append(got, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Skipped()) > 0 {
		t.Errorf("skipped %v", run.Skipped())
	}
	slices.SortFunc(got, func(a, b rundir.Record) int { return cmp.Compare(a.Seq, b.Seq) })
	if len(got) != len(want) {
		t.Fatalf("read %d records, wrote %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d:\ngot  %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// A part written before a column existed reads it as zero, beside parts
// that hold it; so does a null in a column written optional, as another
// writer may.
func TestRecordsOfPartsLackingColumns(t *testing.T) {
	// Parts from before the columns of prompts and conversations.
	type before struct {
		Step        int32  `parquet:"step"`
		ScheduledNs int64  `parquet:"scheduled_ns"`
		EndNs       int64  `parquet:"end_ns"`
		Status      int32  `parquet:"status"`
		Error       string `parquet:"error,dict"`
		Seq         int64  `parquet:"seq"`
	}
	type optional struct {
		Seq    int64   `parquet:"seq"`
		Status *int32  `parquet:"status,optional"`
		Error  *string `parquet:"error,optional,dict"`
	}
	dir := t.TempDir()
	writePart(t, dir, 0, []before{{1, 10, 20, 200, "", 1}, {1, 11, 21, 503, rundir.ErrStatus, 2}})
	full := distinctRecords(3)[2]
	writePart(t, dir, 1, []rundir.Record{full})
	ok, timeout := int32(200), rundir.ErrTimeout
	writePart(t, dir, 2, []optional{{4, &ok, nil}, {5, nil, &timeout}, {6, nil, nil}}, parquet.PageBufferSize(16))
	got, skipped := readSorted(t, dir)
	want := []rundir.Record{
		{Step: 1, ScheduledNs: 10, EndNs: 20, Status: 200, Seq: 1},
		{Step: 1, ScheduledNs: 11, EndNs: 21, Status: 503, Error: rundir.ErrStatus, Seq: 2},
		full,
		{Seq: 4, Status: 200},
		{Seq: 5, Error: rundir.ErrTimeout},
		{Seq: 6},
	}
	if !slices.Equal(got, want) || len(skipped) > 0 {
		t.Errorf("got %+v, skipped %v\nwant %+v", got, skipped, want)
	}
}

// A column that cannot be a record's field makes its part skipped, with
// a reason that names it; the run's other parts are read.
func TestRecordsSkipAPartOfColumnsOfAnotherType(t *testing.T) {
	type wide struct {
		Seq    int64 `parquet:"seq"`
		Status int64 `parquet:"status"`
	}
	type repeated struct {
		Seq    int64   `parquet:"seq"`
		Status []int32 `parquet:"status"`
	}
	type list struct {
		Seq    int64   `parquet:"seq"`
		Status []int32 `parquet:"status,list"`
	}
	dir := t.TempDir()
	writePart(t, dir, 0, []wide{{1, 200}})
	writePart(t, dir, 1, []rundir.Record{{Seq: 2}})
	writePart(t, dir, 2, []repeated{{3, []int32{200}}})
	writePart(t, dir, 3, []list{{4, []int32{200}}})
	got, skipped := readSorted(t, dir)
	if len(got) != 1 || got[0].Seq != 2 {
		t.Errorf("read %+v, want the second part's record", got)
	}
	for i, want := range []string{"part-00000.parquet is damaged (column status holds INT64 values", "part-00002.parquet is damaged (column status is repeated", "part-00003.parquet is damaged (column status is a group"} {
		if len(skipped) != 3 || !strings.Contains(skipped[i], want) {
			t.Errorf("skipped %q, want %d: %s…", skipped, i, want)
		}
	}
}

// damage overwrites the first page header of a column chunk of the part
// at path.
func damage(t *testing.T, path string, group, column int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	off := pf.Metadata().RowGroups[group].Columns[column].MetaData.DataPageOffset
	if _, err := f.WriteAt([]byte(strings.Repeat("\xff", 16)), off); err != nil {
		t.Fatal(err)
	}
}

// A part damaged in its third row group is skipped from there, its first
// two row groups kept; more damaged parts than there are batches do not
// stall the reading.
func TestRecordsKeepTheRowsBeforeTheDamage(t *testing.T) {
	dir := t.TempDir()
	want := distinctRecords(8 * 1000)
	record(t, dir, RecorderOptions{MaxRows: 1000, RowGroupRows: 300}, want, len(want))
	parts, err := Parts(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range parts {
		damage(t, p, 2, i%20)
	}
	got, skipped := readSorted(t, dir)
	if len(skipped) != len(parts) {
		t.Errorf("skipped %d parts, want all %d: %q", len(skipped), len(parts), skipped)
	}
	var kept []rundir.Record
	for p := range slices.Chunk(want, 1000) {
		kept = append(kept, p[:600]...)
	}
	if !slices.Equal(got, kept) {
		t.Errorf("read %d records, want the %d of the two row groups before the damage", len(got), len(kept))
	}
}

// Damage anywhere in a part's pages is a skipped part, never a panic, a
// stall or an error of the run.
func TestRecordsSurviveDamageAnywhere(t *testing.T) {
	src := t.TempDir()
	writePart(t, src, 0, distinctRecords(2000), parquet.MaxRowsPerRowGroup(700), parquet.PageBufferSize(2048), parquet.Compression(&parquet.Zstd))
	whole, err := os.ReadFile(filepath.Join(src, rundir.PartsDir, "part-00000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	// The pages lie before the footer, whose length ends the file.
	footer := int(uint32(whole[len(whole)-8]) | uint32(whole[len(whole)-7])<<8 | uint32(whole[len(whole)-6])<<16 | uint32(whole[len(whole)-5])<<24)
	pages := len(whole) - 8 - footer
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, rundir.PartsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	for at := 4; at < pages; at += max(1, pages/60) {
		damaged := slices.Clone(whole)
		for i := at; i < min(at+5, pages); i++ {
			damaged[i] ^= 0x5a
		}
		// More damaged parts than there are batches to read them into.
		for p := range 2*runtime.GOMAXPROCS(0) + 1 {
			if err := os.WriteFile(filepath.Join(dir, rundir.PartsDir, fmt.Sprintf("part-%05d.parquet", p)), damaged, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run, err := Open(dir)
		if err != nil {
			continue
		}
		n := 0
		if err := run.Records(func(b []rundir.Record) error { n += len(b); return nil }); err != nil {
			t.Errorf("damage at byte %d: %v", at, err)
		}
		if n > 2000*(2*runtime.GOMAXPROCS(0)+1) {
			t.Errorf("damage at byte %d: read %d records", at, n)
		}
	}
}

// Reading allocates per page and per part, never per record: the
// strings of a dictionary are decoded once.
func TestRecordsAllocateNothingPerRecord(t *testing.T) {
	dir := t.TempDir()
	recs := distinctRecords(200_000)
	record(t, dir, RecorderOptions{}, recs, len(recs))
	run, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 0
	if err := run.Records(func(b []rundir.Record) error { n += len(b); return nil }); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n != len(recs) {
		t.Fatalf("read %d records, want %d", n, len(recs))
	}
	// The recorder's row groups of 8,192 rows of some thirty columns
	// make about a page of each column per thousand records: some
	// allocations per page (more under the race detector), where one a
	// record would be 200,000.
	if allocs := after.Mallocs - before.Mallocs; allocs > uint64(n/4) {
		t.Errorf("reading %d records took %d allocations", n, allocs)
	}
}

// A damaged part of an agent is named with its agent's directory, and
// skipped like any other; the parts of requests/ and of other agents are
// read.
func TestRecordsNameADamagedPartOfAnAgent(t *testing.T) {
	dir := t.TempDir()
	want := distinctRecords(3000)
	record(t, dir, RecorderOptions{}, want[:1000], 1000)
	record(t, dir, RecorderOptions{Subdir: rundir.AgentDir(1)}, want[1000:2000], 1000)
	record(t, dir, RecorderOptions{Subdir: rundir.AgentDir(4), RowGroupRows: 300}, want[2000:], 1000)
	damage(t, filepath.Join(dir, rundir.PartsDir, rundir.AgentDir(4), "part-00000.parquet"), 1, 3)
	got, skipped := readSorted(t, dir)
	if len(skipped) != 1 || !strings.HasPrefix(skipped[0], "requests/agent=4/part-00000.parquet is damaged") {
		t.Errorf("skipped %q, want requests/agent=4/part-00000.parquet", skipped)
	}
	if !slices.Equal(got, want[:2300]) {
		t.Errorf("read %d records, want the 2300 before the damage", len(got))
	}
}
