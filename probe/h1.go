package probe

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"
)

// h1Client sends plain HTTP/1.1 requests over kept-alive TCP connections
// of its own: the request's head is built once, each connection carries
// one request at a time (no pipelining, which would add head-of-line
// waits a user's own client does not have), and a small reader frames
// the answer by Content-Length, chunked coding, or the connection's
// close. It records what net/http's path records: the same statuses,
// error classes, timeouts, body limit and connection reuse. It serves
// http:// URLs only; TLS, HTTP/2 and streamed answers stay on net/http.
type h1Client struct {
	addr string
	// target is the request line's target; head the headers after the
	// request line, up to the body's length.
	target  string
	head    []byte
	timeout time.Duration
	maxBody int64
	maxIdle int

	mu   sync.Mutex
	idle []*h1Conn
	// busy holds the connections with a request on them, each with the
	// end of its request's context.
	busy map[*h1Conn]<-chan struct{}
	// watched holds the ends of the contexts (their Done channels) whose
	// end aborts the exchanges under them: one watch a context, not one a
	// request.
	watched sync.Map
}

// h1Conn is one connection with its read buffer and its request buffer.
type h1Conn struct {
	c    net.Conn
	peek *peeker
	br   *bufio.Reader
	out  []byte
	// idle is when the connection was last put back, in Unix
	// nanoseconds.
	idle int64
}

// staleAfter is how long a connection may wait idle before it is looked
// at for the server's close before it is used: a connection back from an
// answer a moment ago is used at once.
const staleAfter = time.Millisecond

// newH1Client builds the lean client for cfg's http:// URL, or reports
// false when the URL or the headers need net/http: another scheme, or a
// header net/http would refuse to send (the request then fails there, as
// it must).
func newH1Client(cfg HTTPConfig, u *url.URL) (*h1Client, bool) {
	if u.Scheme != "http" || u.User != nil {
		return nil, false
	}
	host := u.Host
	for k, vs := range cfg.Header {
		if !isToken([]byte(k)) {
			return nil, false
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				return nil, false
			}
		}
		if http.CanonicalHeaderKey(k) == "Host" && len(vs) > 0 {
			host = vs[0]
		}
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	// As net/http writes them: Host, User-Agent, the caller's other
	// headers in their sorted order, then the body's length.
	ua := "Go-http-client/1.1"
	if vs, ok := cfg.Header["User-Agent"]; ok && len(vs) > 0 {
		ua = vs[0]
	}
	b := []byte("Host: " + host + "\r\n")
	if ua != "" {
		b = append(b, "User-Agent: "+ua+"\r\n"...)
	}
	h := cfg.Header.Clone()
	for _, k := range []string{"Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer"} {
		h.Del(k)
	}
	var w bytes.Buffer
	h.Write(&w)
	return &h1Client{
		addr:    addr,
		target:  u.RequestURI(),
		head:    append(b, w.Bytes()...),
		timeout: cfg.Timeout,
		maxBody: cfg.MaxBody,
		maxIdle: cfg.MaxConns,
		busy:    map[*h1Conn]<-chan struct{}{},
	}, true
}

// validHeaderValue reports whether v can be sent as a header value: no
// control characters but tab, as net/http requires.
func validHeaderValue(v string) bool {
	for i := range len(v) {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// do sends body and reads the whole answer, filling the record as
// HTTPClient.Do does. The exchange, body included, runs under the
// client's timeout; ctx being done stops it as the run's stop.
func (h *h1Client) do(ctx context.Context, method string, body []byte, rec *rundir.Record, clk Clock) {
	rec.BytesOut = int64(len(body))
	now := time.Now()
	deadline := now.Add(h.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	h.watch(ctx)
	for attempt := 1; ; attempt++ {
		cn, reused, err := h.get(ctx, now, deadline)
		if err != nil {
			rec.EndNs = clk.Now()
			rec.Status, rec.Error = Classify(ctx, err)
			return
		}
		rec.NewConn = !reused
		answered, keep, err := h.exchange(cn, method, body, rec, clk)
		h.release(cn, keep)
		if err == nil {
			return
		}
		// A kept-alive connection the server closed while idle fails
		// before any answer; the server never read the request, which
		// goes again on another connection, as HTTPClient sends it.
		if !answered && reused && attempt <= maxStaleRetries && ctx.Err() == nil {
			if _, class := Classify(ctx, err); class == rundir.ErrReset {
				continue
			}
		}
		rec.EndNs = clk.Now()
		if answered {
			fail(ctx, err, rec)
		} else {
			rec.Status, rec.Error = Classify(ctx, err)
		}
		return
	}
}

// exchange writes one request on cn and reads its answer. answered says
// whether the answer's head arrived; keep whether cn can carry another
// request.
func (h *h1Client) exchange(cn *h1Conn, method string, body []byte, rec *rundir.Record, clk Clock) (answered, keep bool, err error) {
	out := append(cn.out[:0], method...)
	out = append(out, ' ')
	out = append(out, h.target...)
	out = append(out, " HTTP/1.1\r\n"...)
	out = append(out, h.head...)
	// POST, PUT and PATCH say "Content-Length: 0" without a body, as
	// net/http sends them.
	if len(body) > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, int64(len(body)), 10)
		out = append(out, "\r\n"...)
	}
	out = append(out, "\r\n"...)
	// Small bodies go in the head's write; large ones after it, uncopied.
	inline := len(body) <= 16<<10
	if inline {
		out = append(out, body...)
	}
	cn.out = out[:0]
	if _, err := cn.c.Write(out); err != nil {
		return false, false, err
	}
	if !inline {
		if _, err := cn.c.Write(body); err != nil {
			return false, false, err
		}
	}
	hd, err := readHead(cn.br, method == http.MethodHead)
	if err != nil {
		return false, false, err
	}
	// The head is in: the nearest point to the first byte, as on
	// net/http's path.
	rec.FirstByteNs = clk.Now()
	rec.Status = int32(hd.status)
	if hd.status < 200 || hd.status > 299 {
		rec.Error = rundir.ErrStatus
	}
	rec.BytesIn, err = readBody(cn.br, hd, h.maxBody)
	rec.EndNs = clk.Now()
	return true, err == nil && hd.keepAlive, err
}

// watch makes the end of ctx abort the exchanges under it at once, as
// net/http's cancellation does: their connections' deadlines are moved
// to the past.
func (h *h1Client) watch(ctx context.Context) {
	done := ctx.Done()
	if done == nil {
		return
	}
	if _, ok := h.watched.Load(done); ok {
		return
	}
	if _, loaded := h.watched.LoadOrStore(done, struct{}{}); loaded {
		return
	}
	context.AfterFunc(ctx, func() {
		h.watched.Delete(done)
		h.mu.Lock()
		defer h.mu.Unlock()
		for cn, d := range h.busy {
			if d == done {
				cn.c.SetDeadline(time.Unix(1, 0))
			}
		}
	})
}

// get takes a connection for a request under ctx, marked busy with its
// deadline set: an idle one the server has not closed, or a new one.
func (h *h1Client) get(ctx context.Context, now, deadline time.Time) (*h1Conn, bool, error) {
	cn, reused, err := h.take(ctx, now, deadline)
	if err != nil {
		return nil, false, err
	}
	h.mu.Lock()
	h.busy[cn] = ctx.Done()
	h.mu.Unlock()
	// A context that ended before the connection was marked busy is not
	// seen by its watch: it is looked at once the deadline is set.
	if err := cn.c.SetDeadline(deadline); err != nil || ctx.Err() != nil {
		h.release(cn, false)
		if err == nil {
			err = ctx.Err()
		}
		return nil, false, err
	}
	return cn, reused, nil
}

// take pops an idle connection the server has not closed, or dials one
// before the deadline.
func (h *h1Client) take(ctx context.Context, now, deadline time.Time) (*h1Conn, bool, error) {
	for {
		h.mu.Lock()
		n := len(h.idle)
		if n == 0 {
			h.mu.Unlock()
			break
		}
		cn := h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		h.mu.Unlock()
		if now.UnixNano()-cn.idle >= int64(staleAfter) && cn.peek.closed() {
			cn.c.Close()
			continue
		}
		return cn, true, nil
	}
	cn, err := h.dial(ctx, deadline)
	return cn, false, err
}

// dial opens a connection before the deadline.
func (h *h1Client) dial(ctx context.Context, deadline time.Time) (*h1Conn, error) {
	d := net.Dialer{Deadline: deadline, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, err
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	return &h1Conn{c: c, peek: newPeeker(raw), br: bufio.NewReaderSize(c, h1ReadBuffer)}, nil
}

// warm opens up to n connections for the requests to come, a few at a
// time, and keeps them idle; it stops at the first that fails, or at the
// deadline. The first requests of a run at a high rate then neither wait
// for their connections nor, late, pile up more of them.
func (h *h1Client) warm(n int, deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var wg sync.WaitGroup
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range min(n, 8) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				cn, err := h.dial(ctx, deadline)
				if err != nil {
					cancel()
					return
				}
				h.release(cn, true)
			}
		}()
	}
	wg.Wait()
}

// release ends cn's request: cn is kept for the next one when keep says
// it can carry one and fewer than enough are kept, and closed otherwise.
func (h *h1Client) release(cn *h1Conn, keep bool) {
	if keep {
		cn.idle = time.Now().UnixNano()
	}
	h.mu.Lock()
	delete(h.busy, cn)
	if keep && len(h.idle) < h.maxIdle {
		h.idle = append(h.idle, cn)
		cn = nil
	}
	h.mu.Unlock()
	if cn != nil {
		cn.c.Close()
	}
}

// closeIdle closes the connections kept for reuse.
func (h *h1Client) closeIdle() {
	h.mu.Lock()
	idle := h.idle
	h.idle = nil
	h.mu.Unlock()
	for _, cn := range idle {
		cn.c.Close()
	}
}

// h1ReadBuffer is a connection's read buffer: net/http's size, which
// bounds how far the reader looks for the end of trailers.
const h1ReadBuffer = 4 << 10
