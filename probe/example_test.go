package probe_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe"
	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

// An engine sends 200 requests/s for a second to a test server, recording
// every request to Parquet, and reports the step's statistics.
func ExampleEngine() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "capfinder-example-")
	defer os.RemoveAll(dir)

	client, _ := probe.NewHTTPClient(probe.HTTPConfig{URL: srv.URL})
	sched, _ := probe.NewSchedule("constant", 1, 0)
	rec, _ := store.NewRecorder(dir, store.RecorderOptions{})
	eng, _ := probe.NewEngine(probe.EngineConfig{
		Client: client, Source: datasets.Repeat(nil), Schedule: sched, Writer: rec,
		Requests: 200,
	})
	eng.Start()
	w, err := eng.Step(context.Background(), probe.Load{Rate: 200, Hold: 2 * time.Second})
	fmt.Println("step ended:", err)
	tot, _ := eng.Stop()
	rec.Close()

	var rows int
	run, _ := store.Open(dir)
	run.Records(func(b []rundir.Record) error { rows += len(b); return nil })
	fmt.Printf("sent %d, failed %d, recorded %d, rows on disk %d\n", w.Sent, w.Failed, tot.Recorded, rows)
	// Output:
	// step ended: probe: requests exhausted
	// sent 200, failed 0, recorded 200, rows on disk 200
}
