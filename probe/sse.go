package probe

import (
	"bufio"
	"bytes"
	"io"
)

// Event is one server-sent event.
type Event struct {
	// Type is the event field; empty means the default, "message".
	Type string
	// Data is the data lines joined by newlines.
	Data []byte
	ID   string
}

// SSEReader reads server-sent events as the HTML standard parses an
// event stream: lines end in CRLF, LF or CR; a line starting with a colon
// is a comment; "field: value" loses one space after the colon; data
// lines accumulate, joined by newlines; a blank line dispatches the event
// (one without data is dropped); a stream ending mid-event drops it.
type SSEReader struct {
	r        *bufio.Reader
	line     []byte
	data     []byte
	typ, id  string
	hasData  bool
	skipLF   bool // the last line ended in CR: a following LF belongs to it
	Comments int  // comment lines seen (keep-alives)
}

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{r: bufio.NewReaderSize(r, 4096)}
}

// Next returns the next event. Its Data is valid until the next call. At
// the end of the stream it returns io.EOF, or the read error.
func (s *SSEReader) Next() (Event, error) {
	for {
		line, err := s.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 {
			if !s.hasData {
				s.typ = ""
				continue
			}
			ev := Event{Type: s.typ, Data: bytes.TrimSuffix(s.data, []byte{'\n'}), ID: s.id}
			s.data, s.typ, s.hasData = s.data[:0], "", false
			return ev, nil
		}
		if line[0] == ':' {
			s.Comments++
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			s.data = append(append(s.data, value...), '\n')
			s.hasData = true
		case "event":
			s.typ = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				s.id = string(value)
			}
		}
	}
}

// readLine returns the next line without its ending. A last line without
// an ending is not a line: the stream was cut.
func (s *SSEReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if s.skipLF {
			s.skipLF = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\n':
			return s.line, nil
		case '\r':
			s.skipLF = true
			return s.line, nil
		}
		s.line = append(s.line, b)
	}
}
