package datasets

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// lines passes a stream to a JSON decoder and keeps what was read since
// the last position asked for, so that the decoder's byte offsets can be
// told as lines and columns. Positions must be asked for in order.
type lines struct {
	r      io.Reader
	buf    []byte // the stream from offset base on
	base   int64
	line   int   // 1-based line of base
	lineAt int64 // offset where that line starts
}

func (l *lines) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.buf = append(l.buf, p[:n]...)
	return n, err
}

// end is the offset of the end of what was read.
func (l *lines) end() int64 { return l.base + int64(len(l.buf)) }

// from returns what was read from off on.
func (l *lines) from(off int64) []byte {
	return l.buf[min(max(off, l.base), l.end())-l.base:]
}

// pos returns the line and column of off, both 1-based, and forgets the
// bytes before it.
func (l *lines) pos(off int64) (line, col int) {
	off = min(max(off, l.base), l.end())
	seen := l.buf[:off-l.base]
	if n := bytes.Count(seen, []byte{'\n'}); n > 0 {
		l.line += n
		l.lineAt = l.base + int64(bytes.LastIndexByte(seen, '\n')) + 1
	}
	l.buf, l.base = l.buf[off-l.base:], off
	return l.line, int(off-l.lineAt) + 1
}

// skipSpace returns the offset of the first byte from off on that is not
// JSON white space.
func (l *lines) skipSpace(off int64) int64 {
	return l.end() - int64(len(bytes.TrimLeft(l.from(off), " \t\r\n")))
}

// valueStart returns where an array element starts that the decoder read
// from off on, past the comma before it unless it is the first. sep
// reports whether that comma was there; if not, start is where it was
// wanted.
func (l *lines) valueStart(off int64, first bool) (start int64, sep bool) {
	start = l.skipSpace(off)
	if first {
		return start, true
	}
	if rest := l.from(start); len(rest) == 0 || rest[0] != ',' {
		return start, false
	}
	return l.skipSpace(start + 1), true
}

// errorAt returns the offset of the fault behind err, which the decoder
// met reading a value that starts at start. The decoder's own offsets
// count from places that vary with its state, so the value is scanned
// again from its start.
func (l *lines) errorAt(start int64, err error) int64 {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return l.end()
	}
	var se *json.SyntaxError
	if errors.As(json.NewDecoder(bytes.NewReader(l.from(start))).Decode(new(json.RawMessage)), &se) {
		return start + se.Offset - 1
	}
	return start
}

// skipBOM drops a UTF-8 byte order mark at the start of r.
func skipBOM(r *bufio.Reader) {
	if b, err := r.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		r.Discard(3)
	}
}
