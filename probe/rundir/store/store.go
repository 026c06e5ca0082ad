package store

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/capfinder/capfinder/probe/rundir"
)

// RecorderOptions configure a Recorder. Zero fields mean the defaults.
type RecorderOptions struct {
	// MaxRows closes a part after that many rows; default 1,000,000.
	MaxRows int64
	// MaxAge closes a part that has been open that long, so a killed
	// process loses at most MaxAge of requests; default 10 s.
	MaxAge time.Duration
	// RowGroupRows bounds the rows buffered in memory before a row group is
	// written out; default 8,192, whose closing costs a few milliseconds
	// of CPU at a time, where 65,536 cost twenty: a generator sharing its
	// processor with the recorder must not wait that long.
	RowGroupRows int64
	// Metadata is written as key/value metadata into every part.
	Metadata map[string]string
	// Subdir is the directory under requests/ that the parts go to:
	// rundir.AgentDir(i) for the parts of agent i of a run sent by
	// several generators; empty, requests/ itself. Another name is
	// refused: Parts would not find the parts.
	Subdir string
	// now is the clock rotation reads; tests replace it.
	now func() time.Time
}

// Recorder writes records to DIR/requests/part-NNNNN.parquet (or
// DIR/requests/SUBDIR/part-NNNNN.parquet), zstd compressed, one row per
// record. A part is written under a name ending in ".open" and renamed
// when closed, so a glob on *.parquet only ever finds complete files.
// Write and Close are called from one goroutine.
type Recorder struct {
	// dir is the directory the parts go to.
	dir  string
	opts RecorderOptions

	part   int
	f      *os.File
	buf    *bufio.Writer
	w      *parquet.GenericWriter[rundir.Record]
	opened time.Time
	inPart int64
	rows   int64
	spare  []*os.File
}

// NewRecorder creates DIR/requests (and its Subdir) and returns a
// recorder writing there.
func NewRecorder(dir string, opts RecorderOptions) (*Recorder, error) {
	if opts.MaxRows <= 0 {
		opts.MaxRows = 1_000_000
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 10 * time.Second
	}
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = 8192
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if _, ok := agentIndex(opts.Subdir); opts.Subdir != "" && !ok {
		return nil, fmt.Errorf("store: parts go to requests/ or an agent's requests/agent=<i>/, not requests/%s/", opts.Subdir)
	}
	parts := filepath.Join(dir, rundir.PartsDir, opts.Subdir)
	if err := os.MkdirAll(parts, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	r := &Recorder{dir: parts, opts: opts}
	r.reserve()
	return r, nil
}

// spares is how many descriptors a recorder holds in reserve: a generator
// that runs out of descriptors (its connections take them all) must still
// open its next part, and write steps.parquet and the summary at the end.
const spares = 2

// reserve takes up to spares descriptors in reserve, as far as it can.
func (r *Recorder) reserve() {
	for len(r.spare) < spares {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return
		}
		r.spare = append(r.spare, f)
	}
}

// release gives the descriptors in reserve back, for a file to be opened.
func (r *Recorder) release() {
	for _, f := range r.spare {
		f.Close()
	}
	r.spare = r.spare[:0]
}

func (r *Recorder) partPath(n int) string {
	return filepath.Join(r.dir, fmt.Sprintf("part-%05d.parquet", n))
}

func writerOptions(meta map[string]string, rowGroup int64) []parquet.WriterOption {
	opts := []parquet.WriterOption{
		parquet.Compression(&parquet.Zstd),
		parquet.MaxRowsPerRowGroup(rowGroup),
		// Pages are compressed as they fill, not all at once when their
		// row group closes.
		parquet.PageBufferSize(32 << 10),
		parquet.CreatedBy("capfinder", "", ""),
	}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		opts = append(opts, parquet.KeyValueMetadata(k, meta[k]))
	}
	return opts
}

func (r *Recorder) open() error {
	var (
		f   *os.File
		err error
	)
	// The descriptors given back may be taken by the generator's own
	// connections before the part is created: while the process is out of
	// descriptors, try again a little later, as they come and go.
	for range 100 {
		r.release()
		f, err = os.Create(r.partPath(r.part) + ".open")
		r.reserve()
		if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	r.f = f
	r.buf = bufio.NewWriterSize(f, 1<<20)
	r.w = parquet.NewGenericWriter[rundir.Record](r.buf, writerOptions(r.opts.Metadata, r.opts.RowGroupRows)...)
	r.opened = r.opts.now()
	r.inPart = 0
	return nil
}

// closePart writes the footer (without which a part is unreadable),
// syncs and renames the part to its final name.
func (r *Recorder) closePart() error {
	if r.w == nil {
		return nil
	}
	err := r.w.Close()
	if err == nil {
		err = r.buf.Flush()
	}
	if err == nil {
		err = r.f.Sync()
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(r.partPath(r.part)+".open", r.partPath(r.part))
	}
	r.w, r.f, r.buf = nil, nil, nil
	r.part++
	if err != nil {
		return fmt.Errorf("store: closing part: %w", err)
	}
	return nil
}

// Write appends records, rotating parts by rows and age.
func (r *Recorder) Write(recs []rundir.Record) error {
	for len(recs) > 0 {
		if r.w == nil {
			if err := r.open(); err != nil {
				return err
			}
		}
		n := int64(len(recs))
		if room := r.opts.MaxRows - r.inPart; n > room {
			n = room
		}
		if _, err := r.w.Write(recs[:n]); err != nil {
			return fmt.Errorf("store: writing records: %w", err)
		}
		recs = recs[n:]
		r.inPart += n
		r.rows += n
		if r.inPart >= r.opts.MaxRows || r.opts.now().Sub(r.opened) >= r.opts.MaxAge {
			if err := r.closePart(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close closes the open part, and gives back the descriptors held in
// reserve. A recorder that wrote nothing leaves no part.
func (r *Recorder) Close() error {
	r.release()
	return r.closePart()
}

// Rows returns how many records were written.
func (r *Recorder) Rows() int64 { return r.rows }

// Parts lists the closed parts of a run directory: those of
// requests/part-*.parquet, then those of each agent,
// requests/agent=<i>/part-*.parquet, by agent index. Every reader of a
// run's parts takes them from here.
func Parts(dir string) ([]string, error) {
	root := filepath.Join(dir, rundir.PartsDir)
	own, err := filepath.Glob(filepath.Join(root, "part-*.parquet"))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	agents, err := filepath.Glob(filepath.Join(root, "agent=*", "part-*.parquet"))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// A directory named agent=<something else> is no agent's.
	agents = slices.DeleteFunc(agents, func(p string) bool { _, ok := PartAgent(p); return !ok })
	sort.Strings(own)
	slices.SortFunc(agents, func(a, b string) int {
		i, _ := PartAgent(a)
		j, _ := PartAgent(b)
		return cmp.Or(cmp.Compare(i, j), strings.Compare(a, b))
	})
	return append(own, agents...), nil
}

// PartAgent says which agent's directory (requests/agent=<i>/) the part
// at path lies in; false for a part of requests/ itself.
func PartAgent(path string) (int, bool) {
	return agentIndex(filepath.Base(filepath.Dir(path)))
}

// agentIndex is the index of the agent whose parts directory is name,
// as rundir.AgentDir names it.
func agentIndex(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "agent=")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || rundir.AgentDir(i) != name {
		return 0, false
	}
	return i, true
}

// PartRows returns how many rows the Parquet file at path holds, from
// its footer.
func PartRows(path string) (int64, error) {
	var n int64
	err := readFooter(path, func(pf *parquet.File) { n = pf.NumRows() })
	return n, err
}

// ReadMetadata returns the key/value metadata of a Parquet file.
func ReadMetadata(path string) (map[string]string, error) {
	meta := map[string]string{}
	err := readFooter(path, func(pf *parquet.File) {
		for _, kv := range pf.Metadata().KeyValueMetadata {
			meta[kv.Key] = kv.Value
		}
	})
	if err != nil {
		return nil, err
	}
	return meta, nil
}

// readFooter opens the Parquet file at path and gives it to fn; a file
// parquet-go panics on is a *DamagedError.
func readFooter(path string, fn func(*parquet.File)) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &DamagedError{Part: path, Err: fmt.Errorf("%v", p)}
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
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return fmt.Errorf("store: reading %s: %w", path, err)
	}
	fn(pf)
	return nil
}

// ReadParquet reads a small Parquet file (steps.parquet) whole.
func ReadParquet[T any](path string) ([]T, error) {
	rows, err := parquet.ReadFile[T](path)
	if err != nil {
		return nil, fmt.Errorf("store: reading %s: %w", filepath.Base(path), err)
	}
	return rows, nil
}

// WriteParquet writes rows to a small Parquet file at path in one go,
// through a temporary file, so a reader never sees it half written.
func WriteParquet[T any](path string, rows []T, meta map[string]string) error {
	return rundir.WriteFileAtomic(path, func(f io.Writer) error {
		w := parquet.NewGenericWriter[T](f, writerOptions(meta, 65536)...)
		if _, err := w.Write(rows); err != nil {
			return err
		}
		return w.Close()
	})
}

// ServerWriter writes server.parquet as the scrapes come: to a file
// named .open, renamed once closed whole.
type ServerWriter struct {
	path string
	f    *os.File
	buf  *bufio.Writer
	w    *parquet.GenericWriter[rundir.ServerRow]
}

// NewServerWriter creates dir's server.parquet.
func NewServerWriter(dir string) (*ServerWriter, error) {
	path := filepath.Join(dir, rundir.ServerFile)
	f, err := os.Create(path + ".open")
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	buf := bufio.NewWriter(f)
	return &ServerWriter{path: path, f: f, buf: buf, w: parquet.NewGenericWriter[rundir.ServerRow](buf, writerOptions(nil, 8192)...)}, nil
}

// Write appends rows.
func (w *ServerWriter) Write(rows []rundir.ServerRow) error {
	if _, err := w.w.Write(rows); err != nil {
		return fmt.Errorf("store: writing server metrics: %w", err)
	}
	return nil
}

// Close writes the footer and gives the file its name.
func (w *ServerWriter) Close() error {
	err := w.w.Close()
	if err == nil {
		err = w.buf.Flush()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.path+".open", w.path)
	}
	if err != nil {
		return fmt.Errorf("store: closing %s: %w", w.path, err)
	}
	return nil
}
