package probetest

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func startLLM(t *testing.T, cfg LLMConfig) (*LLM, string) {
	t.Helper()
	l := NewLLM(cfg)
	s, err := Serve(context.Background(), "127.0.0.1:0", l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); l.Close() })
	return l, s.URL
}

// dataLines posts body and returns the data lines of the answer.
func dataLines(t *testing.T, url, body string) []string {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, line)
		} else if sc.Text() != "" {
			t.Errorf("unexpected line %q", sc.Text())
		}
	}
	return out
}

func TestLLMStreamsAsVLLM(t *testing.T) {
	_, url := startLLM(t, LLMConfig{DecodeTime: time.Millisecond, DecodePerSeq: time.Microsecond})
	lines := dataLines(t, url+"/v1/chat/completions",
		`{"model":"sim","messages":[{"role":"user","content":"twelve bytes"}],"max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}`)
	// role, 5 content chunks, finish, usage, [DONE]
	if len(lines) != 9 || lines[8] != "[DONE]" {
		t.Fatalf("got %d data lines, want 9 ending in [DONE]:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	type choice struct {
		Delta        map[string]string `json:"delta"`
		FinishReason *string           `json:"finish_reason"`
	}
	type chunk struct {
		Object  string   `json:"object"`
		Choices []choice `json:"choices"`
		Usage   *struct {
			Prompt     int `json:"prompt_tokens"`
			Completion int `json:"completion_tokens"`
			Total      int `json:"total_tokens"`
		} `json:"usage"`
	}
	var got []chunk
	for _, l := range lines[:8] {
		var c chunk
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if c.Object != "chat.completion.chunk" {
			t.Errorf("object %q", c.Object)
		}
		got = append(got, c)
	}
	if got[0].Choices[0].Delta["role"] != "assistant" || got[0].Choices[0].Delta["content"] != "" {
		t.Errorf("first chunk %+v, want the role with empty content", got[0])
	}
	for i := 1; i <= 5; i++ {
		if c := got[i].Choices[0]; c.Delta["content"] != tokenText || c.FinishReason != nil {
			t.Errorf("chunk %d: %+v, want one token", i, c)
		}
	}
	if c := got[6].Choices[0]; c.FinishReason == nil || *c.FinishReason != "length" || c.Delta["content"] != "" {
		t.Errorf("finish chunk %+v", c)
	}
	if u := got[7].Usage; len(got[7].Choices) != 0 || u == nil || u.Prompt != 3 || u.Completion != 5 || u.Total != 8 {
		t.Errorf("usage chunk %+v, want 3 prompt (12 bytes) and 5 completion tokens", got[7])
	}
}

func TestLLMCompletionsAndWholeAnswers(t *testing.T) {
	_, url := startLLM(t, LLMConfig{DecodeTime: time.Millisecond})
	lines := dataLines(t, url+"/v1/completions", `{"prompt":"abcd","max_tokens":3,"stream":true}`)
	// 3 content chunks, finish, [DONE]; no usage unless asked.
	if len(lines) != 5 || !strings.Contains(lines[0], `"text":" tok"`) || !strings.Contains(lines[3], `"finish_reason":"length"`) {
		t.Errorf("completion stream:\n%s", strings.Join(lines, "\n"))
	}
	resp, err := http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"messages":[{"role":"user","content":[{"type":"text","text":"abcdefgh"}]}],"max_tokens":4}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var whole struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
		Usage struct {
			Prompt     int `json:"prompt_tokens"`
			Completion int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&whole); err != nil {
		t.Fatal(err)
	}
	if whole.Choices[0].Message.Content != strings.Repeat(tokenText, 4) || whole.Usage.Prompt != 2 || whole.Usage.Completion != 4 {
		t.Errorf("whole answer %+v", whole)
	}
}

func TestLLMRefusesWhatVLLMRefuses(t *testing.T) {
	_, url := startLLM(t, LLMConfig{KVTokens: 100})
	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/v1/chat/completions", `{"model":"other","messages":[{"content":"x"}]}`, 404},
		{"/v1/chat/completions", `{"messages":[{"content":"x"}],"max_tokens":200}`, 400},
		{"/v1/chat/completions", `{"messages":[]}`, 400},
		{"/v1/chat/completions", `not json`, 400},
		{"/v1/completions", `{"max_tokens":1}`, 400},
		{"/v2/other", `{}`, 404},
	} {
		resp, err := http.Post(url+tc.path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Object, Message string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tc.status || e.Object != "error" || e.Message == "" {
			t.Errorf("%s %s: %d %+v, want %d with an error object", tc.path, tc.body, resp.StatusCode, e, tc.status)
		}
	}
}

func TestLLMErrorMidStream(t *testing.T) {
	l, url := startLLM(t, LLMConfig{DecodeTime: time.Millisecond, ErrorRate: 1})
	lines := dataLines(t, url+"/v1/chat/completions", `{"messages":[{"content":"x"}],"max_tokens":10,"stream":true}`)
	// role, 5 tokens, the error, [DONE]
	if len(lines) != 8 || !strings.Contains(lines[6], `"error"`) || lines[7] != "[DONE]" {
		t.Errorf("stream with a failure:\n%s", strings.Join(lines, "\n"))
	}
	if st := l.Stats(); st.Failed != 1 || st.Served != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Below capacity every request joins the batch within a step; the
// throughput of a saturated replica is what Capacity says.
func TestLLMCapacityFollowsItsParameters(t *testing.T) {
	cfg := LLMConfig{MaxRunning: 8, DecodeTime: 5 * time.Millisecond, DecodePerSeq: 500 * time.Microsecond, PrefillPerToken: 10 * time.Microsecond}
	// B = 8, T = 9 ms, 20 output and 100 prompt tokens:
	// λ = 8 / (20 × 9 ms + 8 × 100 × 10 µs) = 8 / 0.188 s ≈ 42.6/s.
	want := 8 / (20*0.009 + 8*100*10e-6)
	if got := cfg.Capacity(100, 20); math.Abs(got-want) > 1e-9 {
		t.Fatalf("Capacity = %v, want %v", got, want)
	}
	// KV-bound: 8 sequences of 120 tokens need 960; with 480 only 4 run.
	kv := cfg
	kv.KVTokens = 480
	if got, want := kv.Capacity(100, 20), 4/(20*0.007+4*100*10e-6); math.Abs(got-want) > 1e-9 {
		t.Errorf("KV-bound Capacity = %v, want %v", got, want)
	}

	// Saturate it: 64 requests at once, closed loop for a while.
	l, url := startLLM(t, cfg)
	prompt := strings.Repeat("x", 400) // 100 tokens
	body := `{"messages":[{"content":"` + prompt + `"}],"max_tokens":20,"stream":true}`
	var wg sync.WaitGroup
	start := time.Now()
	const clients, each = 16, 6
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	rate := float64(clients*each) / time.Since(start).Seconds()
	if st := l.Stats(); st.Served != clients*each {
		t.Fatalf("served %d of %d", st.Served, clients*each)
	}
	// The replica is paced by absolute step times, so it is never faster
	// than its model; a busy machine may only make it slower.
	if rate > want*1.1 || rate < want*0.6 {
		t.Errorf("saturated throughput %.1f/s, model %.1f/s", rate, want)
	}
	t.Logf("saturated throughput %.1f/s, model %.1f/s", rate, want)
}
