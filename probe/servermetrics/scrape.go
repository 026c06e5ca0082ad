package servermetrics

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Scraper reads a metrics endpoint every Interval.
type Scraper struct {
	URL    string
	Header http.Header
	// Interval between scrapes; default 1 s. Timeout bounds one scrape;
	// default the interval.
	Interval, Timeout time.Duration
	// Insecure skips TLS certificate verification, as the run does.
	Insecure bool
}

// Scrape reads the endpoint once.
func (s *Scraper) Scrape(ctx context.Context, c *http.Client) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("servermetrics: %w", err)
	}
	for k, v := range s.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("servermetrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("servermetrics: GET %s: %s", s.URL, resp.Status)
	}
	return Parse(io.LimitReader(resp.Body, 16<<20))
}

// Run scrapes until ctx ends, handing each scrape's samples to emit with
// the time now gives, and each failure to fail. The first scrape is at
// once.
func (s *Scraper) Run(ctx context.Context, now func() int64, emit func(at int64, samples []Sample), fail func(error)) {
	interval := s.Interval
	if interval <= 0 {
		interval = time.Second
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = interval
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a proxy would be measured too
	if s.Insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	c := &http.Client{Transport: tr, Timeout: timeout}
	defer tr.CloseIdleConnections()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		at := now()
		samples, err := s.Scrape(ctx, c)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			fail(err)
		default:
			emit(at, samples)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
