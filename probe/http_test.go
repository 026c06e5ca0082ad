package probe

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capfinder/capfinder/probe/probetest"
	"github.com/capfinder/capfinder/probe/rundir"

	"github.com/capfinder/capfinder/datasets"
)

// do sends one request with a fresh client on each path (lean and
// net/http), checks that both recorded the same outcome, and returns the
// lean path's record.
func do(t *testing.T, cfg HTTPConfig, ctx context.Context, body []byte) rundir.Record {
	t.Helper()
	var recs []rundir.Record
	for _, path := range paths {
		c, err := path.new(cfg)
		if err != nil {
			t.Fatal(err)
		}
		clk := NewClock()
		rec := rundir.Record{ScheduledNs: clk.Now()}
		rec.SentNs = clk.Now()
		c.Do(ctx, datasets.Payload{Body: body}, &rec, clk)
		recs = append(recs, rec)
	}
	l, s := recs[0], recs[1]
	if l.Status != s.Status || l.Error != s.Error || l.BytesIn != s.BytesIn || l.BytesOut != s.BytesOut || l.NewConn != s.NewConn {
		t.Errorf("lean path recorded %+v, net/http %+v", l, s)
	}
	return l
}

func TestHTTPClientRecordsOutcomes(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 1000))
	})
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// A port that was open a moment ago and is closed now refuses.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	l.Close()

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	for _, tc := range []struct {
		name, url   string
		ctx         context.Context
		status      int32
		class       string
		wantBytesIn int64
	}{
		// A 2xx with a body: no error, every byte counted.
		{"ok", srv.URL + "/ok", context.Background(), 200, "", 1000},
		// A non-2xx is a failed request of class status.
		{"503", srv.URL + "/busy", context.Background(), 503, rundir.ErrStatus, -1},
		// The client timeout is status 512, as EAS reports it.
		{"timeout", srv.URL + "/slow", context.Background(), rundir.StatusTimeout, rundir.ErrTimeout, -1},
		{"refused", closed, context.Background(), 0, rundir.ErrRefused, -1},
		// The run being stopped is not the target's fault.
		{"canceled", srv.URL + "/ok", cancelled, 0, rundir.ErrCanceled, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, HTTPConfig{URL: tc.url, Timeout: 200 * time.Millisecond}, tc.ctx, nil)
			if r.Status != tc.status || r.Error != tc.class {
				t.Errorf("status %d class %q, want %d %q", r.Status, r.Error, tc.status, tc.class)
			}
			if tc.wantBytesIn >= 0 && r.BytesIn != tc.wantBytesIn {
				t.Errorf("bytes_in %d, want %d", r.BytesIn, tc.wantBytesIn)
			}
			if r.EndNs < r.SentNs || (r.FirstByteNs != 0 && (r.FirstByteNs < r.SentNs || r.FirstByteNs > r.EndNs)) {
				t.Errorf("times out of order: %+v", r)
			}
		})
	}
}

// rawServer accepts connections on loopback and hands each to handle.
// rawServer serves handle on loopback for the test: a target that breaks
// HTTP.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	url, err := probetest.ServeRaw(t.Context(), "127.0.0.1:0", handle)
	if err != nil {
		t.Fatal(err)
	}
	return url + "/"
}

func TestHTTPClientClassifiesBrokenServers(t *testing.T) {
	reset := rawServer(t, func(c net.Conn) {
		// Linger 0 makes Close send a RST.
		c.(*net.TCPConn).SetLinger(0)
	})
	garbage := rawServer(t, func(c net.Conn) { io.WriteString(c, "NOT HTTP AT ALL\r\n\r\n") })
	for _, tc := range []struct{ name, url, class string }{
		{"reset", reset, rundir.ErrReset},
		{"garbage", garbage, rundir.ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, HTTPConfig{URL: tc.url, Timeout: 2 * time.Second}, context.Background(), nil)
			if r.Error != tc.class {
				t.Errorf("class %q (status %d), want %q", r.Error, r.Status, tc.class)
			}
		})
	}
}

func TestHTTPClientTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	// httptest's certificate is signed by no authority we trust.
	if r := do(t, HTTPConfig{URL: srv.URL}, context.Background(), nil); r.Error != rundir.ErrTLS {
		t.Errorf("untrusted certificate: class %q, want tls", r.Error)
	}
	if r := do(t, HTTPConfig{URL: srv.URL, Insecure: true}, context.Background(), nil); r.Error != "" || r.Status != 200 {
		t.Errorf("insecure: status %d class %q, want 200", r.Status, r.Error)
	}
}

func TestHTTPClientSendsMethodHeadersBody(t *testing.T) {
	var got struct {
		method, auth, body string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.auth, got.body = r.Method, r.Header.Get("Authorization"), string(b)
	}))
	defer srv.Close()
	h := http.Header{}
	h.Set("Authorization", "Bearer s3cret")
	for _, path := range paths {
		send := func(cfg HTTPConfig, body []byte) rundir.Record {
			c, err := path.new(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var rec rundir.Record
			c.Do(context.Background(), datasets.Payload{Body: body}, &rec, NewClock())
			return rec
		}
		r := send(HTTPConfig{URL: srv.URL, Header: h}, []byte(`{"x":1}`))
		if r.Error != "" || got.method != "POST" || got.auth != "Bearer s3cret" || got.body != `{"x":1}` {
			t.Errorf("%s: server saw %+v (record %+v)", path.name, got, r)
		}
		if r.BytesOut != 7 {
			t.Errorf("%s: bytes_out %d, want the body's 7", path.name, r.BytesOut)
		}
		r = send(HTTPConfig{URL: srv.URL, Method: "PUT"}, nil)
		if got.method != "PUT" || r.Error != "" {
			t.Errorf("%s: method %s, want PUT", path.name, got.method)
		}
	}
}

func TestNewHTTPClientRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"ftp://x/", "127.0.0.1:80", "http://", "::"} {
		if _, err := NewHTTPClient(HTTPConfig{URL: u}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

// BenchmarkHTTPClientDo sends requests one after another over a kept
// connection, on the lean path and on net/http's.
func BenchmarkHTTPClientDo(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	for _, path := range paths {
		b.Run(path.name, func(b *testing.B) {
			c, err := path.new(HTTPConfig{URL: srv.URL})
			if err != nil {
				b.Fatal(err)
			}
			clk := NewClock()
			b.ReportAllocs()
			for b.Loop() {
				var rec rundir.Record
				c.Do(context.Background(), datasets.Payload{}, &rec, clk)
				if rec.Error != "" {
					b.Fatal(rec.Error)
				}
			}
		})
	}
}

// capfinder speaks HTTP/1.1 over TLS too, even to a server that offers
// HTTP/2: one request per connection at a time, as the concurrency says.
func TestHTTPClientSpeaksHTTP11OverTLS(t *testing.T) {
	var proto atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proto.Store(r.Proto) }))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	r := do(t, HTTPConfig{URL: srv.URL, Timeout: 2 * time.Second, Insecure: true}, context.Background(), nil)
	if !r.OK() || proto.Load() != "HTTP/1.1" {
		t.Errorf("status %d %q over %v, want HTTP/1.1", r.Status, r.Error, proto.Load())
	}
}
