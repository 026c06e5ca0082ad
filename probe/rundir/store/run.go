package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/parquet-go/parquet-go"

	"github.com/capfinder/capfinder/probe/rundir"
)

// Run is a run directory opened for reading: a rundir.Source.
type Run struct {
	dir   string
	parts []string
	meta  map[string]string
	// skipped says which parts the last Records could not read whole.
	skipped []string
}

var _ rundir.Source = (*Run)(nil)

// Open opens the run in dir for reading: its parts, of requests/ and of
// every agent's requests/agent=<i>/, as Parts lists them. A directory
// without a closed request part is an error that says so; the metadata is
// the first readable part's.
func Open(dir string) (*Run, error) {
	parts, err := Parts(dir)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("store: %s holds no recorded requests (no %s/part-*.parquet, nor %s/agent=*/part-*.parquet)", dir, rundir.PartsDir, rundir.PartsDir)
	}
	r := &Run{dir: dir, parts: parts}
	for _, p := range parts {
		if r.meta, err = ReadMetadata(p); err == nil {
			return r, nil
		}
	}
	return nil, fmt.Errorf("store: %s: no request part is readable: %w", dir, err)
}

// Skipped says which parts the last Records could not read whole, and
// why.
func (r *Run) Skipped() []string { return r.skipped }

// Dir is the run directory.
func (r *Run) Dir() string { return r.dir }

// Meta is the key/value metadata of the run's first part.
func (r *Run) Meta() map[string]string { return r.meta }

// Steps reads steps.parquet; rundir.ErrNoSteps when the run wrote none.
func (r *Run) Steps() ([]rundir.StepRow, error) {
	path := filepath.Join(r.dir, rundir.StepsFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, rundir.ErrNoSteps
	}
	return ReadParquet[rundir.StepRow](path)
}

// Server reads server.parquet; nothing when the run wrote none.
func (r *Run) Server() ([]rundir.ServerRow, error) {
	path := filepath.Join(r.dir, rundir.ServerFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return ReadParquet[rundir.ServerRow](path)
}

// batchRows is how many records a batch of Records holds.
const batchRows = 8192

// Records streams every record of the run's closed parts to fn, in
// batches, from one goroutine: parts are decoded in parallel, but fn sees
// one batch at a time, so whatever it accumulates needs no lock. Batches
// come in no particular order, and fn must not keep one.
func (r *Run) Records(fn func([]rundir.Record) error) error {
	workers := min(runtime.GOMAXPROCS(0), len(r.parts))
	next := make(chan string)
	full := make(chan []rundir.Record, workers)
	free := make(chan []rundir.Record, 2*workers)
	for range 2 * workers {
		free <- make([]rundir.Record, batchRows)
	}
	stop := make(chan struct{})
	errs := make([]error, workers)
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	r.skipped = nil
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for path := range next {
				err := decode(path, free, full, stop)
				var d *DamagedError
				if errors.As(err, &d) {
					// The rest of the run is still worth its answer.
					mu.Lock()
					r.skipped = append(r.skipped, d.Error()+"; the rows read before the damage are kept, the rest of the part is skipped")
					mu.Unlock()
					continue
				}
				if errs[w] = err; err != nil {
					return
				}
			}
		}()
	}
	go func() {
		defer close(next)
		for _, p := range r.parts {
			select {
			case next <- p:
			case <-stop:
				return
			}
		}
	}()
	go func() { wg.Wait(); close(full) }()
	var fnErr error
	for b := range full {
		if fnErr == nil {
			if fnErr = fn(b); fnErr != nil {
				close(stop)
			}
		}
		free <- b[:cap(b)]
	}
	if fnErr != nil {
		return fnErr
	}
	sort.Strings(r.skipped)
	return errors.Join(errs...)
}

// decode reads the part at path into batches taken from free and handed
// to full, until the part ends or stop closes. A part that cannot be read
// is an error of type *DamagedError, and the rows before the damage are
// handed on; parquet-go's panics on damaged files are turned into one.
func decode(path string, free chan []rundir.Record, full chan<- []rundir.Record, stop <-chan struct{}) (err error) {
	// buf is the batch being filled, given back if the part ends early.
	var buf []rundir.Record
	defer func() {
		if p := recover(); p != nil {
			err = &DamagedError{Part: path, Err: fmt.Errorf("%v", p)}
		}
		if buf != nil {
			free <- buf
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return &DamagedError{Part: path, Err: err}
	}
	groups := pf.RowGroups()
	var left int64
	for _, g := range groups {
		if g.NumRows() < 0 {
			return &DamagedError{Part: path, Err: fmt.Errorf("a row group of %d rows", g.NumRows())}
		}
		left += g.NumRows()
	}
	cols, err := newColumns(pf, int(min(batchRows, left)))
	if err != nil {
		return &DamagedError{Part: path, Err: err}
	}
	defer cols.close()
	// A column is never asked for more rows than its row group has left:
	// parquet-go, asked for rows past the end of a part, looks for each
	// in vain, a page header allocated each time (59 MB to read a part of
	// 526 rows into a batch of 8192).
	var inGroup int64
	for left > 0 {
		select {
		case buf = <-free:
		case <-stop:
			return nil
		}
		n := int(min(int64(len(buf)), left))
		var damage error
		filled := 0
		for filled < n && damage == nil {
			for inGroup == 0 {
				cols.open(groups[0])
				inGroup, groups = groups[0].NumRows(), groups[1:]
			}
			var got int
			got, damage = cols.read(filled, int(min(int64(n-filled), inGroup)))
			filled += got
			inGroup -= int64(got)
			left -= int64(got)
		}
		cols.fill(buf[:filled])
		if filled > 0 {
			select {
			case full <- buf[:filled]:
				buf = nil
			case <-stop:
				return nil
			}
		}
		if damage != nil {
			return &DamagedError{Part: path, Err: damage}
		}
	}
	return nil
}

// DamagedError is a part that could not be read to its end.
type DamagedError struct {
	Part string
	Err  error
}

func (e *DamagedError) Error() string {
	name := filepath.Base(e.Part)
	if i, ok := PartAgent(e.Part); ok {
		name = rundir.AgentDir(i) + "/" + name
	}
	return fmt.Sprintf("%s/%s is damaged (%v)", rundir.PartsDir, name, e.Err)
}

func (e *DamagedError) Unwrap() error { return e.Err }
