package runner

import (
	"context"
	"sync"

	"github.com/capfinder/capfinder/probe"
	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
	"github.com/capfinder/capfinder/probe/servermetrics"
)

// scrapeServer scrapes the target's metrics endpoint into server.parquet
// until the returned function is called, which waits for the last scrape
// and closes the file. A failing endpoint is a warning, said once, never
// a failed run.
func (r *Runner) scrapeServer(clock probe.Clock, events chan<- Event) (stop func()) {
	s := r.spec
	if s.ServerMetrics == "" {
		return func() {}
	}
	warn := func(err error) {
		events <- Warning{Message: "server metrics: " + err.Error() + "; the run goes on without them"}
	}
	w, err := store.NewServerWriter(r.dir)
	if err != nil {
		warn(err)
		return func() {}
	}
	header, err := expandHeaders(s.Header)
	if err != nil {
		warn(err)
	}
	sc := &servermetrics.Scraper{URL: s.ServerMetrics, Header: header, Insecure: s.Insecure}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var once sync.Once
	var rows []rundir.ServerRow
	wg.Go(func() {
		sc.Run(ctx, clock.Now, func(at int64, samples []servermetrics.Sample) {
			rows = rows[:0]
			for _, x := range samples {
				rows = append(rows, rundir.ServerRow{TimeNs: at, Series: x.Key, Kind: x.Kind, Value: x.Value})
			}
			if err := w.Write(rows); err != nil {
				once.Do(func() { warn(err) })
			}
		}, func(err error) { once.Do(func() { warn(err) }) })
	})
	return func() {
		cancel()
		wg.Wait()
		if err := w.Close(); err != nil {
			once.Do(func() { warn(err) })
		}
	}
}
