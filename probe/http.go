package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"

	"github.com/capfinder/capfinder/datasets"
)

// HTTPConfig configures the plain HTTP client. Zero fields mean defaults.
type HTTPConfig struct {
	URL string
	// Method defaults to POST when a request has a body, GET otherwise.
	Method string
	Header http.Header
	// Timeout covers the whole exchange, body included; default 20 s. A
	// timed-out request is recorded with status 512 (rundir.StatusTimeout).
	Timeout time.Duration
	// MaxConns is how many connections to the target are kept open for
	// reuse; size it to the requests in flight. Default 1024.
	MaxConns int
	// Insecure skips TLS certificate verification.
	Insecure bool
	// MaxBody bounds the bytes read of one answer; default 16 MiB. An
	// answer over it fails with class rundir.ErrTooLarge.
	MaxBody int64
}

// DefaultMaxBody is the largest answer read by default: far over any
// inference answer or API response, and with 4,096 requests in flight
// still a bound on the generator's memory.
const DefaultMaxBody = 16 << 20

// HTTPClient sends plain HTTP requests and records their outcome. It is
// safe for concurrent use.
type HTTPClient struct {
	cfg    HTTPConfig
	url    *url.URL
	client *http.Client
	bufs   sync.Pool
	// lean sends plain http:// requests whose answers are read whole;
	// nil where net/http serves (https, headers it would refuse).
	lean *h1Client
}

var _ Client = (*HTTPClient)(nil)

// NewHTTPClient checks the URL (http or https, with a host) and builds a
// client whose transport is tuned for many requests to one host. Plain
// http:// requests go over capfinder's own lean HTTP/1.1 path (h1Client),
// https:// over net/http.
func NewHTTPClient(cfg HTTPConfig) (*HTTPClient, error) {
	c, err := newHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	c.lean, _ = newH1Client(c.cfg, c.url)
	return c, nil
}

// newHTTPClient builds the net/http client alone: the streaming clients
// read answers as they arrive, through it.
func newHTTPClient(cfg HTTPConfig) (*HTTPClient, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("probe: bad URL %q: %w", cfg.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("probe: %q is not an http:// or https:// URL", cfg.URL)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1024
	}
	tr := &http.Transport{
		// A load generator never goes through a proxy from the
		// environment: it would measure the proxy.
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   cfg.Timeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        cfg.MaxConns,
		MaxIdleConnsPerHost: cfg.MaxConns,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: cfg.Timeout,
		// bytes_in must be what crossed the wire, not a decompressed size.
		DisableCompression: true,
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: cfg.Insecure},
		// HTTP/1.1 always, TLS or not: HTTP/2 multiplexes requests on one
		// connection, which changes what a concurrency and a connection
		// mean (a custom TLS config without ForceAttemptHTTP2 never
		// negotiates h2).
		ForceAttemptHTTP2: false,
	}
	c := &HTTPClient{
		cfg: cfg,
		url: u,
		client: &http.Client{
			Transport: tr,
			// Redirects are answers to record, not to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.bufs.New = func() any { b := make([]byte, 32<<10); return &b }
	return c, nil
}

// Do sends one request and fills rec. The whole exchange, body included,
// runs under the client timeout.
func (c *HTTPClient) Do(ctx context.Context, p datasets.Payload, rec *rundir.Record, clk Clock) {
	if c.lean != nil {
		c.lean.do(ctx, c.method(p.Body), p.Body, rec, clk)
		return
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.Timeout, errTimeout)
	defer cancel()
	resp, ok := c.send(ctx, p.Body, rec, clk)
	if !ok {
		return
	}
	bp := c.bufs.Get().(*[]byte)
	cr := countingReader{r: resp.Body, max: c.cfg.MaxBody}
	_, err := io.CopyBuffer(io.Discard, &cr, *bp)
	c.bufs.Put(bp)
	resp.Body.Close()
	rec.EndNs = clk.Now()
	rec.BytesIn = cr.n
	if err != nil {
		fail(ctx, err, rec)
	}
}

// Warm opens up to n connections before a run, where the client keeps
// its own (plain http://), and gives up after two seconds or at the
// first that fails; the run's requests find them idle.
func (c *HTTPClient) Warm(n int) {
	if c.lean != nil {
		c.lean.warm(min(n, c.cfg.MaxConns), time.Now().Add(2*time.Second))
	}
}

// CloseIdleConnections closes the connections kept for reuse, giving
// their descriptors back.
func (c *HTTPClient) CloseIdleConnections() {
	c.client.CloseIdleConnections()
	if c.lean != nil {
		c.lean.closeIdle()
	}
}

// fail records why a request failed after its answer began: too large
// (its connection is dropped with the unread rest), or what Classify says.
func fail(ctx context.Context, err error, rec *rundir.Record) {
	if errors.Is(err, errTooLarge) {
		rec.Error = rundir.ErrTooLarge
		return
	}
	rec.Status, rec.Error = Classify(ctx, err)
}

// send sends body and returns the response once its headers are in,
// having set FirstByteNs, Status, NewConn and, for a non-2xx answer, the
// error class. On a transport failure it fills the record's end and
// reports false. ctx carries the request's timeout.
func (c *HTTPClient) send(ctx context.Context, body []byte, rec *rundir.Record, clk Clock) (*http.Response, bool) {
	method := c.method(body)
	var reused bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused, rec.NewConn = info.Reused, !info.Reused },
	})
	rec.BytesOut = int64(len(body))
	var (
		resp *http.Response
		err  error
	)
	for attempt := 1; ; attempt++ {
		req, rerr := c.request(ctx, method, body)
		if rerr != nil {
			rec.EndNs = clk.Now()
			rec.Error = rundir.ErrProtocol
			return nil, false
		}
		resp, err = c.client.Do(req)
		// A kept-alive connection the server closed as idle (uvicorn and
		// Node close theirs after about 5 s) can cross a request being
		// written on it; the server never read that request. It goes again
		// on another connection, as a browser would send it, and its
		// latency, counted from its schedule, carries the cost.
		if err == nil || !reused || attempt == maxStaleRetries+1 || ctx.Err() != nil {
			break
		}
		if _, class := Classify(ctx, err); class != rundir.ErrReset {
			break
		}
	}
	if err != nil {
		rec.EndNs = clk.Now()
		rec.Status, rec.Error = Classify(ctx, err)
		return nil, false
	}
	// Headers have arrived: the nearest point to the first byte that needs
	// no per-request trace hooks.
	rec.FirstByteNs = clk.Now()
	rec.Status = int32(resp.StatusCode)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		rec.Error = rundir.ErrStatus
	}
	return resp, true
}

// method is the configured method, or by default POST with a body and
// GET without.
func (c *HTTPClient) method(body []byte) string {
	switch {
	case c.cfg.Method != "":
		return c.cfg.Method
	case body != nil:
		return http.MethodPost
	}
	return http.MethodGet
}

// maxStaleRetries bounds how many times a request that failed on a
// kept-alive connection before any answer goes again: each try takes
// another idle connection, or opens one.
const maxStaleRetries = 3

// request builds the request of one try, with a fresh reader of body.
func (c *HTTPClient) request(ctx context.Context, method string, body []byte) (*http.Request, error) {
	var r io.Reader = http.NoBody
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.URL, r)
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(body))
	for k, vs := range c.cfg.Header {
		req.Header[k] = vs
	}
	if req.Header.Get("Host") != "" {
		req.Host = req.Header.Get("Host")
	}
	return req, nil
}

// errTimeout is the cause set on a request's context when the client
// timeout fires, to tell it apart from the run being stopped.
var errTimeout = errors.New("probe: request timeout")
