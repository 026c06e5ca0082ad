package store_test

import (
	"fmt"
	"os"

	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

// A recorder writes every request to rotating Parquet parts; Open reads
// the run back.
func ExampleRecorder() {
	batch := make([]rundir.Record, 1000)
	for i := range batch {
		batch[i] = rundir.Record{Step: 1, ScheduledNs: int64(i) * 1e6, EndNs: int64(i)*1e6 + 5e5, Status: 200, Seq: int64(i + 1)}
	}
	dir, _ := os.MkdirTemp("", "capfinder-store-")
	defer os.RemoveAll(dir)
	rec, _ := store.NewRecorder(dir, store.RecorderOptions{MaxRows: 400, Metadata: map[string]string{rundir.MetaMode: "rate"}})
	rec.Write(batch)
	rec.Close()

	run, err := store.Open(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	parts, _ := store.Parts(dir)
	var rows int
	run.Records(func(b []rundir.Record) error { rows += len(b); return nil })
	fmt.Printf("%d parts, %d rows, mode %s\n", len(parts), rows, run.Meta()[rundir.MetaMode])
	// Output:
	// 3 parts, 1000 rows, mode rate
}
