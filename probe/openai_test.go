package probe

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"

	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe/probetest"
)

func openAI(t *testing.T, cfg OpenAIConfig) *OpenAIClient {
	t.Helper()
	if cfg.API == "" {
		cfg.API = rundir.APIOpenAIChat
	}
	if cfg.URL == "" {
		cfg.URL = "http://127.0.0.1:1"
	}
	c, err := NewOpenAIClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Each engine's stream gives the tokens its usage says, or counts them.
func TestOpenAIClientReadsEngineStreams(t *testing.T) {
	for _, tc := range []struct {
		file           string
		chunks, tokens int32
		source, err    string
	}{
		{"vllm-chat.sse", 3, 4, "usage", ""},
		{"sglang-chat.sse", 1, 1, "usage", ""},
		{"llamacpp-chat.sse", 2, 2, "usage", ""},
		{"tgi-chat.sse", 2, 2, "chunks", ""},
		{"vllm-error.sse", 2, 0, "", rundir.ErrMidStream},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/streams/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Write(data)
			}))
			defer srv.Close()
			var rec rundir.Record
			openAI(t, OpenAIConfig{HTTPConfig: HTTPConfig{URL: srv.URL}}).Do(context.Background(), datasets.Payload{Prompt: "hi"}, &rec, NewClock())
			if rec.Error != tc.err || rec.Chunks != tc.chunks || rec.OutputTokens != tc.tokens || rec.TokenSource != tc.source {
				t.Errorf("error %q chunks %d tokens %d from %q; want %q %d %d %q", rec.Error, rec.Chunks, rec.OutputTokens, rec.TokenSource, tc.err, tc.chunks, tc.tokens, tc.source)
			}
			if rec.FirstTokenNs == 0 || rec.FirstTokenNs < rec.FirstByteNs || rec.LastTokenNs < rec.FirstTokenNs || rec.EndNs < rec.LastTokenNs {
				t.Errorf("times out of order: %+v", rec)
			}
			if rec.BytesIn != int64(len(data)) {
				t.Errorf("bytes in %d, want %d", rec.BytesIn, len(data))
			}
		})
	}
}

func TestOpenAIClientBrokenStreams(t *testing.T) {
	for body, want := range map[string]string{
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n": rundir.ErrProtocol, // cut before its end
		"data: {not json}\n\n": rundir.ErrProtocol,
		"data: {\"error\":{\"message\":\"overloaded\",\"code\":503}}\n\n": rundir.ErrMidStream,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
		var rec rundir.Record
		openAI(t, OpenAIConfig{HTTPConfig: HTTPConfig{URL: srv.URL}}).Do(context.Background(), datasets.Payload{Prompt: "hi"}, &rec, NewClock())
		srv.Close()
		if rec.Error != want || rec.OK() {
			t.Errorf("%q: error %q, want %q", body, rec.Error, want)
		}
	}
}

func TestOpenAIClientBodies(t *testing.T) {
	chat := openAI(t, OpenAIConfig{Model: "m", IgnoreEOS: true})
	var got map[string]any
	b, err := chat.Body(datasets.Payload{Prompt: "hello", MaxTokens: 7})
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &got)
	want := `{"ignore_eos":true,"max_tokens":7,"messages":[{"role":"user","content":"hello"}],"model":"m","stream":true,"stream_options":{"include_usage":true}}`
	if string(b) != want {
		t.Errorf("chat body\n%s\nwant\n%s", b, want)
	}
	// A dataset's own body keeps its fields; --max-tokens and --model win.
	over := openAI(t, OpenAIConfig{API: rundir.APIOpenAICompletions, Model: "m2", MaxTokens: 3, NoStream: true})
	b, err = over.Body(datasets.Payload{Body: []byte(`{"model":"x","prompt":"p","max_completion_tokens":99,"temperature":0.5,"stream_options":{}}`), MaxTokens: 9})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"max_tokens":3,"model":"m2","prompt":"p","stream":false,"temperature":0.5}`; string(b) != want {
		t.Errorf("overridden body\n%s\nwant\n%s", b, want)
	}
	if _, err := over.Body(datasets.Payload{Body: []byte(`[1]`)}); err == nil {
		t.Error("a body that is not an object was accepted")
	}
	for raw, want := range map[string]string{
		"http://h:8000":           "http://h:8000/v1/chat/completions",
		"http://h:8000/v1/":       "http://h:8000/v1/chat/completions",
		"http://h:8000/custom/ep": "http://h:8000/custom/ep",
	} {
		if got := EndpointURL(raw, rundir.APIOpenAIChat); got != want {
			t.Errorf("EndpointURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// Against the simulated replica, through the engine: every streamed row
// has its first token, the server's token count and a TPOT that follows
// from the replica's step time.
func TestOpenAIClientAgainstReplica(t *testing.T) {
	llm := probetest.NewLLM(probetest.LLMConfig{DecodeTime: 4 * time.Millisecond, DecodePerSeq: time.Microsecond, PrefillPerToken: time.Microsecond})
	defer llm.Close()
	srv := httptest.NewServer(llm)
	defer srv.Close()
	for _, api := range []rundir.API{rundir.APIOpenAIChat, rundir.APIOpenAICompletions} {
		c := openAI(t, OpenAIConfig{API: api, HTTPConfig: HTTPConfig{URL: srv.URL}})
		src, err := datasets.Synthetic("input=16-64,output=5-20", 1)
		if err != nil {
			t.Fatal(err)
		}
		mw := &memWriter{}
		e, err := NewEngine(EngineConfig{Client: c, Source: src, Writer: mw, Requests: 40})
		if err != nil {
			t.Fatal(err)
		}
		e.Start()
		if _, err := e.Step(context.Background(), Load{Rate: 100, Hold: 5 * time.Second}); err != nil && err != ErrExhausted {
			t.Fatal(err)
		}
		if _, err := e.Stop(); err != nil {
			t.Fatal(err)
		}
		if len(mw.recs) != 40 {
			t.Fatalf("%s: %d records", api, len(mw.recs))
		}
		var sum time.Duration
		for _, r := range mw.recs {
			if !r.OK() || r.FirstTokenNs == 0 || r.TokenSource != "usage" || r.OutputTokens != r.Chunks || r.OutputTokens < 5 || r.PromptTokens < 16 {
				t.Fatalf("%s: record %+v", api, r)
			}
			tpot := time.Duration((r.EndNs - r.FirstTokenNs) / int64(r.OutputTokens-1))
			sum += tpot
			// One token per 4 ms step. A first token delivered late
			// shortens one request's span, so each bound is loose.
			if tpot < time.Millisecond || tpot > 100*time.Millisecond || r.ITLMaxNs < int64(tpot)/2 {
				t.Errorf("%s: TPOT %v, ITL max %v for a 4 ms step", api, tpot, time.Duration(r.ITLMaxNs))
			}
		}
		// Over all requests the steps show through: paced against absolute
		// times, the replica is never faster than 4 ms a token.
		if mean := sum / time.Duration(len(mw.recs)); mean < 3500*time.Microsecond || mean > 50*time.Millisecond {
			t.Errorf("%s: mean TPOT %v for a 4 ms step", api, mean)
		}
	}
}

func TestSSEClientTimesEvents(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 4 {
			io.WriteString(w, "event: step\ndata: {\"n\":"+strings.Repeat("1", i+1)+"}\n\n: keep-alive\n\n")
			w.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
		}
	}))
	defer srv.Close()
	c, err := NewSSEClient(HTTPConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var rec rundir.Record
	c.Do(context.Background(), datasets.Payload{Body: []byte(`{}`)}, &rec, NewClock())
	if !rec.OK() || rec.Events != 4 || rec.FirstTokenNs == 0 || time.Duration(rec.ITLMaxNs) < 8*time.Millisecond || !rec.NewConn {
		t.Errorf("record %+v", rec)
	}
}
