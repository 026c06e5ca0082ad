package store

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/capfinder/capfinder/probe/rundir"
)

// columns is a batch of a part's records column by column: each column's
// pages are decoded into its typed array, then one loop copies the arrays
// into records. Rebuilding rows by reflection, as parquet-go's row reader
// does, cost four fifths of an analysis.
type columns struct {
	Step         []int32
	OfferedQPS   []float64
	ScheduledNs  []int64
	SentNs       []int64
	FirstByteNs  []int64
	FirstTokenNs []int64
	EndNs        []int64
	Status       []int32
	Error        []string
	BytesOut     []int64
	BytesIn      []int64
	PromptTokens []int32
	OutputTokens []int32
	Events       []int32
	ITLMaxNs     []int64
	LastTokenNs  []int64
	Chunks       []int32
	TokenSource  []string
	NewConn      []bool
	Payload      []int64
	Agent        []int32
	Seq          []int64
	PromptAsked  []int32
	CachedTokens []int32
	Conversation []int64
	Turn         []int32

	// readers decode the columns the part holds; the arrays of the
	// others stay zero, as a part written before they existed says.
	readers []columnReader
}

// newColumns maps the part's columns to rundir.Record's by name, for
// batches of up to n rows. A column that cannot be read into its field
// makes the part unreadable, with an error that says why.
func newColumns(pf *parquet.File, n int) (*columns, error) {
	c := &columns{}
	strs := interner{}
	for _, f := range c.fields() {
		var (
			r   columnReader
			err error
		)
		switch dst := f.dst.(type) {
		case *[]int32:
			r, err = newColumn(pf, f.name, parquet.Int32, dst, n, int32s)
		case *[]int64:
			r, err = newColumn(pf, f.name, parquet.Int64, dst, n, int64s)
		case *[]float64:
			r, err = newColumn(pf, f.name, parquet.Double, dst, n, doubles)
		case *[]bool:
			r, err = newColumn(pf, f.name, parquet.Boolean, dst, n, bools)
		case *[]string:
			r, err = newColumn(pf, f.name, parquet.ByteArray, dst, n, strs.strings)
		}
		if err != nil {
			return nil, err
		}
		if r != nil {
			c.readers = append(c.readers, r)
		}
	}
	return c, nil
}

// field is a column of rundir.Record: its name in Parquet and a pointer
// to its array.
type field struct {
	name string
	dst  any
}

// fields names the arrays by rundir.Record's Parquet tags.
func (c *columns) fields() []field {
	return []field{
		{"step", &c.Step}, {"offered_qps", &c.OfferedQPS}, {"scheduled_ns", &c.ScheduledNs},
		{"sent_ns", &c.SentNs}, {"first_byte_ns", &c.FirstByteNs}, {"first_token_ns", &c.FirstTokenNs},
		{"end_ns", &c.EndNs}, {"status", &c.Status}, {"error", &c.Error},
		{"bytes_out", &c.BytesOut}, {"bytes_in", &c.BytesIn}, {"prompt_tokens", &c.PromptTokens},
		{"output_tokens", &c.OutputTokens}, {"events", &c.Events}, {"itl_max_ns", &c.ITLMaxNs},
		{"last_token_ns", &c.LastTokenNs}, {"chunks", &c.Chunks}, {"token_source", &c.TokenSource},
		{"new_conn", &c.NewConn}, {"payload", &c.Payload}, {"agent", &c.Agent},
		{"seq", &c.Seq}, {"prompt_asked", &c.PromptAsked}, {"cached_tokens", &c.CachedTokens},
		{"conversation", &c.Conversation}, {"turn", &c.Turn},
	}
}

// open starts reading row group g.
func (c *columns) open(g parquet.RowGroup) {
	for _, r := range c.readers {
		r.open(g)
	}
}

// read decodes the next n rows of the row group into the arrays from
// index at on. It returns how many rows every column gave: fewer than n
// only with the error of the column that ended or broke first.
func (c *columns) read(at, n int) (int, error) {
	var damage error
	for _, r := range c.readers {
		got, err := r.read(at, n)
		if err != nil {
			damage, n = err, got
		}
	}
	return n, damage
}

// close lets go of the row group's pages.
func (c *columns) close() {
	for _, r := range c.readers {
		r.close()
	}
}

// fill copies the first len(recs) rows of the arrays into recs.
func (c *columns) fill(recs []rundir.Record) {
	for i := range recs {
		r := &recs[i]
		r.Step = c.Step[i]
		r.OfferedQPS = c.OfferedQPS[i]
		r.ScheduledNs = c.ScheduledNs[i]
		r.SentNs = c.SentNs[i]
		r.FirstByteNs = c.FirstByteNs[i]
		r.FirstTokenNs = c.FirstTokenNs[i]
		r.EndNs = c.EndNs[i]
		r.Status = c.Status[i]
		r.Error = c.Error[i]
		r.BytesOut = c.BytesOut[i]
		r.BytesIn = c.BytesIn[i]
		r.PromptTokens = c.PromptTokens[i]
		r.OutputTokens = c.OutputTokens[i]
		r.Events = c.Events[i]
		r.ITLMaxNs = c.ITLMaxNs[i]
		r.LastTokenNs = c.LastTokenNs[i]
		r.Chunks = c.Chunks[i]
		r.TokenSource = c.TokenSource[i]
		r.NewConn = c.NewConn[i]
		r.Payload = c.Payload[i]
		r.Agent = c.Agent[i]
		r.Seq = c.Seq[i]
		r.PromptAsked = c.PromptAsked[i]
		r.CachedTokens = c.CachedTokens[i]
		r.Conversation = c.Conversation[i]
		r.Turn = c.Turn[i]
	}
}

// columnReader reads one column of a part, row group after row group.
type columnReader interface {
	open(g parquet.RowGroup)
	read(at, n int) (int, error)
	close()
}

// column reads a column of values of type T into dst. decode gives the
// values a page holds, up to n of them: numbers as they lie in the page,
// without a copy. A page of dictionary indexes is looked up in its
// dictionary's values, decoded once.
type column[T any] struct {
	name   string
	index  int
	maxDef byte
	dst    []T
	decode func(v encoding.Values, n int, buf *[]T) []T

	pages parquet.Pages
	page  parquet.Page
	// rows counts the rows of the page not yet read; vals holds their
	// values, and defs, in an optional column, their definition levels:
	// a row is null unless its level is maxDef.
	rows int
	vals []T
	defs []byte
	// buf holds a page's values when they had to be decoded or looked
	// up; dictVals the values of the column chunk's dictionary dict.
	buf      []T
	dict     parquet.Dictionary
	dictVals []T
}

// newColumn makes dst an array of n values and reads the part's column
// name, of values of kind, into it: nil when the part has no such column
// (it was written before the column existed; the array stays zero). A
// column of another kind, a repeated one or a group of columns is
// refused, with an error that says why.
func newColumn[T any](pf *parquet.File, name string, kind parquet.Kind, dst *[]T, n int, decode func(encoding.Values, int, *[]T) []T) (columnReader, error) {
	*dst = make([]T, n)
	leaf, ok := pf.Schema().Lookup(name)
	switch {
	case !ok && pf.Root().Column(name) != nil:
		return nil, fmt.Errorf("column %s is a group of columns, where a record holds one value", name)
	case !ok:
		return nil, nil
	case leaf.MaxRepetitionLevel > 0:
		return nil, fmt.Errorf("column %s is repeated, where a record holds one value", name)
	case leaf.Node.Type().Kind() != kind:
		return nil, fmt.Errorf("column %s holds %s values, where a record holds %s", name, leaf.Node.Type().Kind(), kind)
	}
	return &column[T]{name: name, index: leaf.ColumnIndex, maxDef: byte(leaf.MaxDefinitionLevel), dst: *dst, decode: decode}, nil
}

func (c *column[T]) open(g parquet.RowGroup) {
	c.close()
	c.pages = g.ColumnChunks()[c.index].Pages()
}

func (c *column[T]) close() {
	c.release()
	if c.pages != nil {
		c.pages.Close()
		c.pages = nil
	}
	c.dict = nil
}

// release gives the page back to parquet-go's pool.
func (c *column[T]) release() {
	if c.page != nil {
		parquet.Release(c.page)
		c.page, c.rows, c.vals, c.defs = nil, 0, nil, nil
	}
}

func (c *column[T]) read(at, n int) (int, error) {
	dst := c.dst[at : at+n]
	for k := 0; k < n; {
		if c.rows == 0 {
			if err := c.next(); err != nil {
				return k, fmt.Errorf("column %s: %w", c.name, err)
			}
		}
		m := min(n-k, c.rows)
		if c.defs == nil {
			copy(dst[k:k+m], c.vals)
			c.vals = c.vals[m:]
		} else {
			// A null leaves the zero value, as a missing column does.
			var zero T
			for i, d := range c.defs[:m] {
				if d == c.maxDef {
					dst[k+i], c.vals = c.vals[0], c.vals[1:]
				} else {
					dst[k+i] = zero
				}
			}
			c.defs = c.defs[m:]
		}
		k += m
		c.rows -= m
	}
	return n, nil
}

// errEarlyEnd is a column chunk that holds fewer rows than its row group.
var errEarlyEnd = errors.New("the column chunk ends before its row group")

// next reads the row group's next page of the column.
func (c *column[T]) next() error {
	c.release()
	for {
		p, err := c.pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return errEarlyEnd
		}
		if err != nil {
			return err
		}
		if p.NumRows() == 0 {
			parquet.Release(p)
			continue
		}
		c.page = p
		rows := int(p.NumRows())
		n := rows
		if c.maxDef > 0 {
			if c.defs = p.DefinitionLevels(); len(c.defs) != rows {
				return fmt.Errorf("a page of %d rows holds %d definition levels", rows, len(c.defs))
			}
			n = 0
			for _, d := range c.defs {
				if d == c.maxDef {
					n++
				}
			}
		}
		data := p.Data()
		if d := p.Dictionary(); d != nil {
			c.vals, err = c.lookup(d, data.Int32())
		} else {
			c.vals = c.decode(data, n, &c.buf)
		}
		if err == nil && len(c.vals) != n {
			err = fmt.Errorf("a page of %d values holds %d", n, len(c.vals))
		}
		c.rows = rows
		return err
	}
}

// lookup gives the values of a page of dictionary indexes.
func (c *column[T]) lookup(d parquet.Dictionary, indexes []int32) ([]T, error) {
	if d != c.dict {
		var fresh []T
		c.dict = d
		c.dictVals = append(c.dictVals[:0], c.decode(d.Page().Data(), d.Len(), &fresh)...)
	}
	vals := c.buf[:0]
	for _, i := range indexes {
		if uint(i) >= uint(len(c.dictVals)) {
			return nil, fmt.Errorf("dictionary index %d out of %d values", i, len(c.dictVals))
		}
		vals = append(vals, c.dictVals[i])
	}
	c.buf = vals[:0]
	return vals, nil
}

// The decoders of a page's values, by type: up to n of them, in buf
// when they have to be unpacked.

func int32s(v encoding.Values, n int, _ *[]int32) []int32 {
	s := v.Int32()
	return s[:min(n, len(s))]
}

func int64s(v encoding.Values, n int, _ *[]int64) []int64 {
	s := v.Int64()
	return s[:min(n, len(s))]
}

func doubles(v encoding.Values, n int, _ *[]float64) []float64 {
	s := v.Double()
	return s[:min(n, len(s))]
}

// bools unpacks booleans, eight to a byte, the first in the lowest bit.
func bools(v encoding.Values, n int, buf *[]bool) []bool {
	bits := v.Boolean()
	b := (*buf)[:0]
	for i := range min(n, 8*len(bits)) {
		b = append(b, bits[i/8]>>(i%8)&1 != 0)
	}
	*buf = b
	return b
}

// interner gives equal byte strings one string, allocated once: the
// error classes and token sources repeat over millions of records.
type interner map[string]string

func (in interner) strings(v encoding.Values, n int, buf *[]string) []string {
	data, offsets := v.ByteArray()
	strs := (*buf)[:0]
	for i := 0; i < n && i+1 < len(offsets); i++ {
		b := data[offsets[i]:offsets[i+1]]
		s, ok := in[string(b)]
		if !ok {
			s = string(b)
			in[s] = s
		}
		strs = append(strs, s)
	}
	*buf = strs
	return strs
}
