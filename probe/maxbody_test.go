package probe

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe/rundir"
)

// An answer larger than MaxBody is a failed request of class too_large,
// whatever the client: the generator's memory is bounded by what it
// allows in flight, not by what a target sends.
func TestAnswersOverMaxBodyFail(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sse":
			// One event of a megabyte, never ended by a blank line.
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: "+huge)
		case "/v1/chat/completions":
			fmt.Fprintf(w, `{"choices":[{"message":{"content":%q}}]}`, huge)
		default:
			fmt.Fprint(w, huge)
		}
	}))
	defer srv.Close()
	cfg := HTTPConfig{Timeout: 5 * time.Second, MaxBody: 64 << 10}
	clients := map[string]func() (Client, error){
		"http": func() (Client, error) { c := cfg; c.URL = srv.URL + "/x"; return NewHTTPClient(c) },
		"sse":  func() (Client, error) { c := cfg; c.URL = srv.URL + "/sse"; return NewSSEClient(c) },
		"openai": func() (Client, error) {
			c := cfg
			c.URL = srv.URL
			return NewOpenAIClient(OpenAIConfig{HTTPConfig: c, API: rundir.APIOpenAIChat, NoStream: true})
		},
	}
	for name, mk := range clients {
		t.Run(name, func(t *testing.T) {
			c, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			var rec rundir.Record
			c.Do(context.Background(), datasets.Payload{Prompt: "hi"}, &rec, NewClock())
			if rec.Error != rundir.ErrTooLarge || rec.OK() {
				t.Errorf("a 1 MiB answer over a 64 KiB limit: status %d, error %q", rec.Status, rec.Error)
			}
			if rec.BytesIn > 2*cfg.MaxBody {
				t.Errorf("read %d bytes of an answer over %d", rec.BytesIn, cfg.MaxBody)
			}
		})
	}
}
