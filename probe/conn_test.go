package probe

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe/rundir"
)

// streamsLikeUvicorn serves an SSE answer of two tokens and [DONE], then,
// after a pause, ends the response: the chunked terminator is a write of
// its own, as uvicorn (vLLM) sends it.
func streamsLikeUvicorn(t *testing.T, after time.Duration, done bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for _, tok := range []string{"a", "b"} {
			fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":%q}}]}\n\n", tok)
			f.Flush()
		}
		fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n")
		if done {
			fmt.Fprint(w, "data: [DONE]\n\n")
		}
		f.Flush()
		time.Sleep(after)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// newConns sends n requests, conc at a time, and counts those that opened
// a connection.
func newConns(t *testing.T, c Client, n, conc int) int {
	t.Helper()
	var opened, failed atomic.Int64
	var wg sync.WaitGroup
	next := make(chan struct{})
	clk := NewClock()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				var rec rundir.Record
				c.Do(context.Background(), datasets.Payload{Prompt: "hi"}, &rec, clk)
				if rec.NewConn {
					opened.Add(1)
				}
				if !rec.OK() {
					if failed.Add(1) == 1 {
						t.Logf("a request failed: %+v", rec)
					}
				}
			}
		}()
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d requests failed", failed.Load(), n)
	}
	return int(opened.Load())
}

// A streamed answer's connection carries the next request: the client
// reads the response to its end, past [DONE], even when the end comes in
// a write of its own.
func TestStreamsKeepTheirConnections(t *testing.T) {
	for _, c := range []struct {
		name  string
		after time.Duration
		n     int
	}{
		{"terminator 20 ms after [DONE]", 20 * time.Millisecond, 40},
		{"terminator at once", 0, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := streamsLikeUvicorn(t, c.after, true)
			cl := openAI(t, OpenAIConfig{HTTPConfig: HTTPConfig{URL: url + "/v1/chat/completions", Timeout: 5 * time.Second}})
			if got := newConns(t, cl, c.n, 4); got > 8 {
				t.Errorf("%d streamed requests at concurrency 4 opened %d connections, want at most 8", c.n, got)
			}
		})
	}
	t.Run("sse", func(t *testing.T) {
		url := streamsLikeUvicorn(t, 20*time.Millisecond, false)
		cl, err := NewSSEClient(HTTPConfig{URL: url, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if got := newConns(t, cl, 40, 4); got > 8 {
			t.Errorf("40 event streams at concurrency 4 opened %d connections, want at most 8", got)
		}
	})
}

// A server that closes idle connections after a short time (uvicorn and
// Node close theirs after about 5 s) does not make the requests after a
// pause fail: the client notices a connection closed while idle and does
// not send on it. The pauses straddle the server's idle timeout, where a
// request and the server's close can cross.
func TestRequestsAfterAPauseDoNotFail(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	srv.Config.IdleTimeout = 40 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	cl, err := NewHTTPClient(HTTPConfig{URL: srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clk := NewClock()
	failed, sent := 0, 0
	for i := range 60 {
		var wg sync.WaitGroup
		recs := make([]rundir.Record, 4)
		for k := range recs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl.Do(context.Background(), datasets.Payload{Body: []byte("x")}, &recs[k], clk)
			}()
		}
		wg.Wait()
		for _, r := range recs {
			sent++
			if !r.OK() {
				failed++
				t.Logf("round %d: %s (status %d)", i, r.Error, r.Status)
			}
		}
		// 30 to 50 ms: before, at and after the server's 40 ms.
		time.Sleep(time.Duration(30+i%21) * time.Millisecond)
	}
	if failed > 0 {
		t.Errorf("%d of %d requests after pauses failed", failed, sent)
	}
}
