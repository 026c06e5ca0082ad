package probe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe/probetest"
	"github.com/capfinder/capfinder/probe/rundir"
)

// paths are the two ways a plain http:// request goes: capfinder's lean
// HTTP/1.1 client, and net/http's (which https:// and the streaming
// clients use).
var paths = []struct {
	name string
	new  func(HTTPConfig) (*HTTPClient, error)
}{
	{"lean", NewHTTPClient},
	{"net-http", newHTTPClient},
}

// serveHTTP answers every request read on a loopback connection with
// what answer returns for it, keeping the connection open unless
// closeAfter; stall holds the connection open for a second after the
// answer instead. It returns the base URL.
func serveHTTP(t *testing.T, answer func(r *http.Request, body []byte) string, closeAfter, stall bool) string {
	t.Helper()
	url, err := probetest.ServeConns(t.Context(), "127.0.0.1:0", func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, _ := io.ReadAll(req.Body)
			if _, err := io.WriteString(c, answer(req, body)); err != nil {
				return
			}
			if stall {
				time.Sleep(time.Second)
			}
			if closeAfter || stall {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// canned serves answer to every request, as serveHTTP does.
func canned(t *testing.T, answer string, closeAfter, stall bool) string {
	return serveHTTP(t, func(*http.Request, []byte) string { return answer }, closeAfter, stall)
}

// The lean client records what net/http's path records, answer by
// answer: status, error class, body bytes, and whether the second of two
// requests needed a new connection.
func TestLeanClientRecordsAsNetHTTP(t *testing.T) {
	big := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name, answer      string
		closeAfter, stall bool
		// class is what both must record: a check that the case tests
		// what it is named for.
		class string
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, false, ""},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n", false, false, ""},
		{"chunked, upper hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", false, false, ""},
		{"to the close", "HTTP/1.1 200 OK\r\n\r\nuntil close", true, false, ""},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", true, false, ""},
		{"HTTP/1.0 kept alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", false, false, ""},
		{"HTTP/1.0 ignores chunked", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", true, false, ""},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok", true, false, ""},
		{"early hints", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false, ""},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", false, false, ""},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", false, false, ""},
		{"empty length", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nto the close", true, false, rundir.ErrProtocol},
		{"status", "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy", false, false, rundir.ErrStatus},
		{"truncated", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, false, rundir.ErrReset},
		{"truncated chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc", true, false, rundir.ErrReset},
		{"garbage", "NOT HTTP AT ALL\r\n\r\n", true, false, rundir.ErrProtocol},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", true, false, rundir.ErrProtocol},
		{"differing lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", true, false, rundir.ErrProtocol},
		{"unknown coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", true, false, rundir.ErrProtocol},
		{"too large", "HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + big, false, false, rundir.ErrTooLarge},
		{"too large chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n12c\r\n" + big + "\r\n0\r\n\r\n", false, false, rundir.ErrTooLarge},
		{"too large to the close", "HTTP/1.1 200 OK\r\n\r\n" + big, true, false, rundir.ErrTooLarge},
		{"stalled body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", false, true, rundir.ErrTimeout},
		{"stalled head", "HTTP/1.1 200 OK\r\n", false, true, rundir.ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2][2]rundir.Record
			for i, path := range paths {
				url := canned(t, tc.answer, tc.closeAfter, tc.stall) + "/x"
				c, err := path.new(HTTPConfig{URL: url, Timeout: 300 * time.Millisecond, MaxBody: 100})
				if err != nil {
					t.Fatal(err)
				}
				if (c.lean != nil) != (path.name == "lean") {
					t.Fatalf("%s: lean path %v", path.name, c.lean != nil)
				}
				clk := NewClock()
				for k := range got[i] {
					r := &got[i][k]
					r.ScheduledNs = clk.Now()
					r.SentNs = r.ScheduledNs
					c.Do(context.Background(), datasets.Payload{Body: []byte("ping")}, r, clk)
					if r.EndNs < r.SentNs || r.FirstByteNs != 0 && (r.FirstByteNs < r.SentNs || r.FirstByteNs > r.EndNs) {
						t.Errorf("%s: times out of order: %+v", path.name, r)
					}
				}
			}
			lean, std := got[0], got[1]
			for k := range lean {
				l, s := lean[k], std[k]
				if l.Status != s.Status || l.Error != s.Error || l.BytesOut != s.BytesOut {
					t.Errorf("request %d: lean status %d %q out %d, net/http %d %q out %d", k+1, l.Status, l.Error, l.BytesOut, s.Status, s.Error, s.BytesOut)
				}
				// Over the limit, how far each read past it is its buffer's.
				if l.BytesIn != s.BytesIn && l.Error != rundir.ErrTooLarge {
					t.Errorf("request %d: lean read %d bytes, net/http %d", k+1, l.BytesIn, s.BytesIn)
				}
				// Over the limit, whether the rest was read (and the
				// connection kept) is the read buffer's size too.
				if l.NewConn != s.NewConn && l.Error != rundir.ErrTooLarge {
					t.Errorf("request %d: lean new connection %v, net/http %v", k+1, l.NewConn, s.NewConn)
				}
				if l.Error != tc.class {
					t.Errorf("request %d: class %q, want %q", k+1, l.Error, tc.class)
				}
			}
		})
	}
}

// The lean client puts on the wire the bytes net/http puts there.
func TestLeanClientSendsAsNetHTTP(t *testing.T) {
	heads := make(chan string, 1)
	base := serveHTTP(t, func(req *http.Request, body []byte) string {
		heads <- req.Method + " " + req.RequestURI + " " + fmt.Sprint(req.ContentLength, req.Header, string(body))
		return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	}, false, false)
	h := http.Header{}
	h.Set("Authorization", "Bearer x")
	h.Add("X-Many", "a")
	h.Add("X-Many", "b")
	h.Set("Host", "example.test")
	for _, tc := range []struct {
		cfg  HTTPConfig
		body []byte
	}{
		{HTTPConfig{URL: base + "/a?b=c"}, nil},
		{HTTPConfig{URL: base + "/"}, []byte("{}")},
		{HTTPConfig{URL: base, Method: "PUT"}, nil},
		{HTTPConfig{URL: base + "/x", Method: "DELETE", Header: h}, []byte("body")},
		{HTTPConfig{URL: base + "/x", Header: http.Header{"User-Agent": {"mine/1"}}}, []byte("")},
	} {
		var seen []string
		for _, path := range paths {
			c, err := path.new(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var rec rundir.Record
			c.Do(context.Background(), datasets.Payload{Body: tc.body}, &rec, NewClock())
			if !rec.OK() {
				t.Fatalf("%s: %+v", path.name, rec)
			}
			seen = append(seen, <-heads)
		}
		if seen[0] != seen[1] {
			t.Errorf("%+v:\nlean sent     %s\nnet/http sent %s", tc.cfg, seen[0], seen[1])
		}
	}
}

// The lean client's reader frames an answer as net/http does: where
// net/http reads an answer whole, the reader gives the same status, body
// length and connection reuse, and where net/http refuses one, so does
// the reader. It never reads past the input, nor panics.
func FuzzH1Response(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nto the close",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 999\r\n\r\n",
		// A chunk line of a bare LF once made the reader panic.
		"HTTP/1.1 000 \nTrAnsfer-EnCoding:Chunked\n\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 1 << 20
		want, werr := http.ReadResponse(bufio.NewReaderSize(bytes.NewReader(in), h1ReadBuffer), &http.Request{Method: "GET"})
		var wantBody int64
		if werr == nil {
			wantBody, werr = io.Copy(io.Discard, want.Body)
		}
		br := bufio.NewReaderSize(bytes.NewReader(in), h1ReadBuffer)
		h, err := readHead(br, false)
		var n int64
		if err == nil {
			n, err = readBody(br, h, max)
		}
		if n > int64(len(in)) {
			t.Fatalf("read a body of %d bytes from %d of input", n, len(in))
		}
		if werr == nil && want.StatusCode >= 200 {
			if err != nil {
				t.Fatalf("net/http read status %d and %d bytes; the reader failed: %v", want.StatusCode, wantBody, err)
			}
			if h.status != want.StatusCode || n != wantBody || h.keepAlive == want.Close {
				t.Fatalf("status %d, %d bytes, keep-alive %v; net/http %d, %d bytes, close %v", h.status, n, h.keepAlive, want.StatusCode, wantBody, want.Close)
			}
		}
		if werr != nil && err == nil && !errors.Is(werr, io.ErrUnexpectedEOF) {
			t.Fatalf("net/http refused the answer (%v); the reader read status %d and %d bytes", werr, h.status, n)
		}
	})
}

// Warm opens the connections a run's first requests then find idle.
func TestLeanClientWarms(t *testing.T) {
	var conns atomic.Int64
	url, err := probetest.ServeConns(t.Context(), "127.0.0.1:0", func(c net.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewHTTPClient(HTTPConfig{URL: url, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	// Up to the connections it keeps.
	c.Warm(10)
	var rec rundir.Record
	c.Do(context.Background(), datasets.Payload{}, &rec, NewClock())
	if !rec.OK() || rec.NewConn {
		t.Errorf("the first request after warming: %+v", rec)
	}
	// The server counts a connection once it accepts it.
	for deadline := time.Now().Add(5 * time.Second); conns.Load() < 4 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := conns.Load(); n != 4 {
		t.Errorf("%d connections opened, want 4", n)
	}
	// A target that refuses gives up at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	if c, err = NewHTTPClient(HTTPConfig{URL: closed}); err != nil {
		t.Fatal(err)
	}
	c.Warm(64)
	if n := len(c.lean.idle); n != 0 {
		t.Errorf("%d connections kept to a closed port", n)
	}
}
