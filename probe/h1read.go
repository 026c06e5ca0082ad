package probe

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// h1Head is what the lean client needs of an answer's head: its status,
// how its body is framed, and whether the connection carries another
// request after it.
type h1Head struct {
	status  int
	chunked bool
	// length is the body's Content-Length; -1 when the body runs to the
	// connection's close (neither a length nor chunked).
	length    int64
	keepAlive bool
}

// maxHeadBytes bounds an answer's head, as net/http's Transport does by
// default (MaxResponseHeaderBytes).
const maxHeadBytes = 10 << 20

// errMalformed is an answer that is not HTTP/1.x; Classify counts it as
// a protocol error.
type errMalformed struct{ what string }

func (e *errMalformed) Error() string { return "malformed HTTP response: " + e.what }

// readHead reads an answer's status line and headers, skipping
// informational (1xx) answers as net/http's Transport does. head says
// whether the request was a HEAD, whose answer has no body. The rules
// are net/http's (ReadResponse and its transfer reader), so that both
// paths take and refuse the same answers.
func readHead(br *bufio.Reader, head bool) (h1Head, error) {
	for skipped := 0; ; skipped++ {
		budget := maxHeadBytes
		line, err := readLine(br, &budget, false)
		if err != nil {
			return h1Head{}, err
		}
		st, err := parseStatus(line)
		if err != nil {
			return h1Head{}, err
		}
		hs, err := readHeaders(br, &budget)
		if err != nil {
			return h1Head{}, err
		}
		h, err := hs.frame(st, head)
		if err != nil {
			return h1Head{}, err
		}
		// 101 Switching Protocols ends the exchange; any other 1xx is
		// followed by the real answer (net/http reads at most 5).
		if h.status >= 100 && h.status < 200 && h.status != 101 {
			if skipped == 5 {
				return h1Head{}, &errMalformed{"too many 1xx answers"}
			}
			continue
		}
		if h.status == 101 {
			h.keepAlive = false
		}
		return h, nil
	}
}

// statusLine is an answer's first line, parsed.
type statusLine struct {
	code         int
	major, minor int
}

// parseStatus reads "HTTP/M.N SSS reason".
func parseStatus(line []byte) (statusLine, error) {
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return statusLine{}, &errMalformed{fmt.Sprintf("status line %q", line)}
	}
	code, _, _ := bytes.Cut(bytes.TrimLeft(rest, " "), []byte(" "))
	// Three characters that strconv.Atoi reads as a number of at least
	// zero, as net/http asks: "+12" is 12.
	n, err := strconv.Atoi(string(code))
	if len(code) != 3 || err != nil || n < 0 {
		return statusLine{}, &errMalformed{fmt.Sprintf("status code %q", code)}
	}
	if len(proto) != 8 || string(proto[:5]) != "HTTP/" || !isDigit(proto[5]) || proto[6] != '.' || !isDigit(proto[7]) {
		return statusLine{}, &errMalformed{fmt.Sprintf("version %q", proto)}
	}
	return statusLine{code: n, major: int(proto[5] - '0'), minor: int(proto[7] - '0')}, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// headers holds what the reader acts on of an answer's header fields.
type headers struct {
	lengths int
	// length is the first Content-Length's value: no valid one is longer
	// (19 digits at most).
	length  [24]byte
	nlength int
	codings int
	// coding is the first Transfer-Encoding's value, as far as it fits:
	// "chunked" does.
	coding   [16]byte
	ncoding  int
	trailers [][]byte
	close    bool
	alive    bool
}

// Header fields the reader acts on.
const (
	fieldOther = iota
	fieldLength
	fieldCoding
	fieldConnection
	fieldTrailer
)

// readHeaders reads the header lines up to the blank one, as textproto
// reads them: a colon on the first line of each field, continuation lines
// joined to it, names of token characters (with spaces allowed, but then
// never one of the fields acted on) and values without control
// characters.
func readHeaders(br *bufio.Reader, budget *int) (headers, error) {
	var (
		hs    headers
		field int
		// The value of a field acted on, kept across its continuation
		// lines; most fit the buffer on the stack.
		buf   [128]byte
		value = buf[:0]
	)
	for first := true; ; first = false {
		line, err := readLine(br, budget, false)
		if err != nil {
			return hs, unexpected(err)
		}
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if first {
				return hs, &errMalformed{fmt.Sprintf("header initial line %q", line)}
			}
			if !validValue(line) {
				return hs, &errMalformed{fmt.Sprintf("header line %q", line)}
			}
			if field != fieldOther {
				value = append(append(value, ' '), trimOWS(line)...)
			}
			continue
		}
		hs.add(field, trimOWS(value))
		if len(line) == 0 {
			return hs, nil
		}
		name, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || !validName(name) || !validValue(v) {
			return hs, &errMalformed{fmt.Sprintf("header line %q", line)}
		}
		value = value[:0]
		if field = fieldOf(name); field != fieldOther {
			value = append(value, v...)
		}
	}
}

// fieldOf says which field a header name is, by net/http's canonical
// key: a name with a space is never canonicalised, so never one of them.
func fieldOf(name []byte) int {
	switch {
	case asciiEqualFold(name, "Content-Length"):
		return fieldLength
	case asciiEqualFold(name, "Transfer-Encoding"):
		return fieldCoding
	case asciiEqualFold(name, "Connection"):
		return fieldConnection
	case asciiEqualFold(name, "Trailer"):
		return fieldTrailer
	}
	return fieldOther
}

// add keeps a field's value, continuation lines joined.
func (hs *headers) add(field int, v []byte) {
	switch field {
	case fieldLength:
		if hs.lengths++; hs.lengths == 1 {
			// A value too long to keep is too long to be valid.
			hs.nlength = copy(hs.length[:], v)
			if len(v) > len(hs.length) {
				hs.nlength = -1
			}
		} else if hs.nlength < 0 || !bytes.Equal(hs.length[:hs.nlength], v) {
			// Differing lengths are refused once the head is read, as
			// net/http refuses them.
			hs.lengths = -1 << 30
		}
	case fieldCoding:
		if hs.codings++; hs.codings == 1 {
			hs.ncoding = copy(hs.coding[:], v)
		}
	case fieldConnection:
		for rest, more := v, true; more; {
			var tok []byte
			tok, rest, more = bytes.Cut(rest, []byte(","))
			switch tok = trimOWS(tok); {
			case asciiEqualFold(tok, "close"):
				hs.close = true
			case asciiEqualFold(tok, "keep-alive"):
				hs.alive = true
			}
		}
	case fieldTrailer:
		hs.trailers = append(hs.trailers, bytes.Clone(v))
	}
}

// frame decides, from the status line and the headers, how the body is
// framed and whether the connection is kept, as net/http's
// readTransfer does.
func (hs *headers) frame(st statusLine, head bool) (h1Head, error) {
	h := h1Head{status: st.code, length: -1}
	switch {
	case st.major < 1:
		h.keepAlive = false
	case st.major == 1 && st.minor == 0:
		h.keepAlive = hs.alive && !hs.close
	default:
		h.keepAlive = !hs.close
	}
	// Transfer codings count from HTTP/1.1 on (net/http takes a version
	// of 0.0 for 1.1 here); only chunked is known, and only once.
	if hs.codings > 0 && (st.major > 1 || st.major == 1 && st.minor >= 1 || st.major == 0 && st.minor == 0) {
		if coding := hs.coding[:hs.ncoding]; hs.codings > 1 || !asciiEqualFold(coding, "chunked") {
			return h, &errMalformed{fmt.Sprintf("unsupported transfer encoding %q", string(coding))}
		}
		h.chunked = true
	}
	if hs.lengths < 0 {
		return h, &errMalformed{"multiple Content-Length headers"}
	}
	if hs.lengths > 0 {
		n, ok := parseLength(hs.length[:max(hs.nlength, 0)])
		if !ok || hs.nlength < 0 {
			return h, &errMalformed{fmt.Sprintf("Content-Length %q", string(hs.length[:max(hs.nlength, 0)]))}
		}
		h.length = n
	}
	if h.chunked {
		for _, v := range hs.trailers {
			for key := range bytes.SplitSeq(v, []byte(",")) {
				key = trimOWS(key)
				if asciiEqualFold(key, "Transfer-Encoding") || asciiEqualFold(key, "Trailer") || asciiEqualFold(key, "Content-Length") {
					return h, &errMalformed{fmt.Sprintf("bad trailer key %q", key)}
				}
			}
		}
	}
	bodyAllowed := !(st.code >= 100 && st.code < 200 || st.code == 204 || st.code == 304)
	switch {
	case head || !bodyAllowed:
		h.chunked, h.length = false, 0
	case h.chunked:
		h.length = -1
	case h.length < 0:
		// A body that runs to the close ends the connection.
		h.keepAlive = false
	}
	return h, nil
}

// parseLength reads a Content-Length as strconv.ParseUint(s, 10, 63)
// does, without a string.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		if n > (1<<63-1)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<63-1 {
			return 0, false
		}
	}
	return int64(n), true
}

// validName reports whether a header name is one textproto takes: token
// characters, or spaces.
func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c != ' ' && !isTokenByte(c) {
			return false
		}
	}
	return true
}

// validValue reports whether b holds only what a header value may:
// visible characters, spaces, tabs and obsolete text (0x80 and up).
func validValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// trimOWS trims spaces and tabs from both ends.
func trimOWS(b []byte) []byte { return bytes.TrimRight(bytes.TrimLeft(b, " \t"), " \t") }

// readBody reads and discards an answer's body as its head frames it,
// and returns its length (chunked framing not counted). A body over limit
// bytes stops the read with errTooLarge once more than limit were read.
func readBody(br *bufio.Reader, h h1Head, limit int64) (int64, error) {
	switch {
	case h.chunked:
		return readChunked(br, limit)
	case h.length >= 0:
		n, err := skipBytes(br, min(h.length, limit+1))
		err = unexpected(err)
		if err == nil && n > limit {
			err = errTooLarge
		}
		return n, err
	}
	// To the close.
	n, err := skipBytes(br, limit+1)
	if err == io.EOF {
		return n, nil
	}
	if err == nil {
		err = errTooLarge
	}
	return n, err
}

// skipBytes reads and drops up to n bytes, stopping early only at an
// error.
func skipBytes(br *bufio.Reader, n int64) (int64, error) {
	var done int64
	for done < n {
		k, err := br.Discard(int(min(n-done, 1<<30)))
		done += int64(k)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// readChunked reads a chunked body to its last chunk and trailers, by
// net/http's rules: chunk lines end in CRLF and are shorter than 4 KiB,
// sizes have at most 16 hex digits, each chunk's data ends in CRLF, the
// overhead of lines and extensions stays within 16 KiB beyond 16 bytes a
// chunk and twice its data, and trailers end within the read buffer.
func readChunked(br *bufio.Reader, limit int64) (int64, error) {
	var (
		n      int64
		excess int64
	)
	for {
		line, err := chunkLine(br)
		if err != nil {
			return n, err
		}
		excess += int64(len(line)) + 2
		size, err := chunkSize(line)
		if err != nil {
			return n, err
		}
		excess = max(0, excess-16-2*int64(min(size, 1<<40)))
		if excess > 16<<10 {
			return n, &errMalformed{"chunked encoding contains too much non-data"}
		}
		if size == 0 {
			return n, readTrailers(br)
		}
		want := limit + 1 - n
		if size < uint64(want) {
			want = int64(size)
		}
		k, err := skipBytes(br, want)
		n += k
		if err != nil {
			return n, unexpected(err)
		}
		if n > limit {
			return n, errTooLarge
		}
		end, err := br.Peek(2)
		if err != nil {
			return n, unexpected(err)
		}
		if string(end) != "\r\n" {
			return n, &errMalformed{"chunk not followed by CRLF"}
		}
		br.Discard(2)
	}
}

// maxChunkLine bounds a chunk's size line, as net/http does.
const maxChunkLine = 4096

// chunkLine reads a chunk's size line without its CRLF.
func chunkLine(br *bufio.Reader) ([]byte, error) {
	p, err := br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, &errMalformed{"chunk line too long"}
	case err != nil:
		return nil, unexpected(err)
	}
	if i := bytes.IndexByte(p, '\r'); i < 0 || i != len(p)-2 {
		return nil, &errMalformed{fmt.Sprintf("chunk line %q does not end in one CRLF", p)}
	}
	if p = p[:len(p)-2]; len(p) >= maxChunkLine {
		return nil, &errMalformed{"chunk line too long"}
	}
	return p, nil
}

// chunkSize parses a chunk's size line: hex digits, then optional
// extensions after a semicolon.
func chunkSize(line []byte) (uint64, error) {
	hex, _, _ := bytes.Cut(bytes.TrimRight(line, " \t"), []byte(";"))
	if len(hex) == 0 || len(hex) > 16 {
		return 0, &errMalformed{fmt.Sprintf("chunk size %q", line)}
	}
	var n uint64
	for _, c := range hex {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, &errMalformed{fmt.Sprintf("chunk size %q", line)}
		}
		n = n<<4 | uint64(d)
	}
	return n, nil
}

// readTrailers reads the fields after the last chunk: a bare CRLF, or
// header lines whose blank end is already in the read buffer.
func readTrailers(br *bufio.Reader) error {
	p, err := br.Peek(2)
	if string(p) == "\r\n" {
		br.Discard(2)
		return nil
	}
	if len(p) < 2 || err != nil {
		return unexpected(err)
	}
	for size := 4; ; size++ {
		p, err := br.Peek(size)
		if bytes.HasSuffix(p, []byte("\r\n\r\n")) {
			break
		}
		if err != nil {
			return &errMalformed{"trailer without its end in sight"}
		}
	}
	budget := maxHeadBytes
	_, err = readHeaders(br, &budget)
	return err
}

// unexpected makes an end of input inside a body an unexpected one.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readLine reads one line without its CRLF, or its bare LF unless crlf
// (chunk framing, where net/http insists on CRLF). budget bounds the
// bytes read. The result is valid until the next read.
func readLine(br *bufio.Reader, budget *int, crlf bool) ([]byte, error) {
	var long []byte
	for {
		frag, err := br.ReadSlice('\n')
		if *budget -= len(frag); *budget < 0 {
			return nil, &errMalformed{"head too large"}
		}
		if err == bufio.ErrBufferFull {
			long = append(long, frag...)
			continue
		}
		if err == io.EOF && (len(frag) > 0 || long != nil) {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		line := frag
		if long != nil {
			line = append(long, frag...)
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		} else if crlf {
			return nil, &errMalformed{"chunked line ends with a bare LF"}
		}
		return line, nil
	}
}

// isTokenByte reports whether c may be in an HTTP token (a header
// name).
func isTokenByte(c byte) bool {
	return c > ' ' && c < 0x7f && strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) < 0
}

// isToken reports whether b is an HTTP token.
func isToken(b []byte) bool {
	for _, c := range b {
		if !isTokenByte(c) {
			return false
		}
	}
	return len(b) > 0
}

// asciiEqualFold compares b with s, ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
