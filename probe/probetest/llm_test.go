package probetest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// post posts a JSON body to url; the answer must come with status 200.
func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		t.Fatalf("%s: status %d", url, resp.StatusCode)
	}
	return resp
}

// dataLines posts body and returns the data lines of the answer.
func dataLines(t *testing.T, url, body string) []string {
	t.Helper()
	resp := post(t, url, body)
	defer resp.Body.Close()
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

// postJSON posts body to url and decodes the answer into v, which must
// come with status 200.
func postJSON(t *testing.T, url, body string, v any) {
	t.Helper()
	resp := post(t, url, body)
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// llmUsage is an answer's usage; Details is nil when it has none.
type llmUsage struct {
	Prompt  int `json:"prompt_tokens"`
	Details *struct {
		Cached int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

// A client calibrates its prompts with /tokenize: its count must be the
// prompt_tokens of a request that sends the same prompt or messages.
func TestLLMTokenizeCountsAsUsage(t *testing.T) {
	const (
		chat  = `"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":[{"type":"text","text":"the house of water"}]}]`
		plain = `"prompt":"the house of water"`
	)
	for _, tc := range []struct {
		rule, path, input string
		want              int
		why               string
	}{
		{"", "/v1/chat/completions", chat, 8, "the default: 32 bytes of contents, no template"},
		{"", "/v1/completions", plain, 5, "the default: 18 bytes"},
		{TokensBPE, "/v1/chat/completions", chat, 22, "5 + 6 content tokens, 4 per message, 3 for the generation prompt"},
		{TokensBPE, "/v1/completions", plain, 6, "six tokens, no template"},
	} {
		_, url := startLLM(t, LLMConfig{Tokens: tc.rule, DecodeTime: time.Millisecond, KVTokens: 1000})
		var tok struct {
			Count       int      `json:"count"`
			MaxModelLen int      `json:"max_model_len"`
			Tokens      []uint32 `json:"tokens"`
		}
		postJSON(t, url+"/tokenize", `{"model":"sim",`+tc.input+`}`, &tok)
		var answer struct{ Usage llmUsage }
		postJSON(t, url+tc.path, `{"model":"sim",`+tc.input+`,"max_tokens":2}`, &answer)
		if tok.Count != tc.want || answer.Usage.Prompt != tc.want || len(tok.Tokens) != tc.want || tok.MaxModelLen != 1000 {
			t.Errorf("%q %s: /tokenize %+v, usage %+v; want %d tokens (%s) of at most 1000",
				tc.rule, tc.path, tok, answer.Usage, tc.want, tc.why)
		}
		if answer.Usage.Details != nil {
			t.Errorf("%q %s: usage reports cached tokens without a prefix cache", tc.rule, tc.path)
		}
	}
	_, url := startLLM(t, LLMConfig{Tokens: TokensBPE})
	var tok struct{ Count int }
	postJSON(t, url+"/tokenize", `{`+chat+`,"add_generation_prompt":false}`, &tok)
	if tok.Count != 19 {
		t.Errorf("/tokenize without the generation prompt: %d tokens, want 22 - 3", tok.Count)
	}
}

// streamUsage streams body from url with its usage and returns it and how
// long the answer took.
func streamUsage(t *testing.T, url, body string) (llmUsage, time.Duration) {
	t.Helper()
	start := time.Now()
	lines := dataLines(t, url, body)
	took := time.Since(start)
	var c struct{ Usage llmUsage }
	if len(lines) < 2 || json.Unmarshal([]byte(lines[len(lines)-2]), &c) != nil || c.Usage.Details == nil {
		t.Fatalf("no usage with details in %q", lines)
	}
	return c.Usage, took
}

func TestLLMPrefixCacheSkipsPrefill(t *testing.T) {
	cfg := LLMConfig{Tokens: TokensBPE, PrefixCache: true, DecodeTime: time.Millisecond, PrefillPerToken: 100 * time.Microsecond}
	// 2000 tokens, 200 ms of prefill.
	body := `{"prompt":"` + strings.Repeat(" word", 2000) + `","max_tokens":1,"stream":true,"stream_options":{"include_usage":true}}`
	l, url := startLLM(t, cfg)
	first, slow := streamUsage(t, url+"/v1/completions", body)
	again, fast := streamUsage(t, url+"/v1/completions", body)
	// All blocks but the one holding the last token, which is computed:
	// 124 × 16 = 1984 tokens, 1.6 ms of prefill.
	if first.Details.Cached != 0 || again.Details.Cached != 1984 || again.Prompt != 2000 {
		t.Errorf("usage %+v then %+v, want 0 then 1984 of 2000 tokens cached", first, again)
	}
	// The replica is never faster than its model; a busy machine may
	// slow it, but not by 100 ms.
	if slow < 200*time.Millisecond || fast > 100*time.Millisecond {
		t.Errorf("answered in %v then %v, want ≥ 200 ms then much less", slow, fast)
	}
	if st := l.Stats(); st.PromptTokens != 4000 || st.CachedTokens != 1984 {
		t.Errorf("stats %+v, want 4000 prompt tokens, 1984 cached", st)
	}

	// A cache of four blocks keeps the prompt's first four.
	cfg.PrefixCacheTokens = 4 * blockTokens
	_, url = startLLM(t, cfg)
	streamUsage(t, url+"/v1/completions", body)
	if again, _ := streamUsage(t, url+"/v1/completions", body); again.Details.Cached != 64 {
		t.Errorf("a 64-token cache gave %d cached tokens, want 64", again.Details.Cached)
	}
}

// A conversation's second turn sends the first turn's messages and the
// answer received: the cache holds both, from the first turn's end.
func TestLLMPrefixCacheHitsAConversationsHistory(t *testing.T) {
	// Contents of 27 + 29 bytes, a whole number of bytes-rule tokens, so
	// that the answer starts a token of its own under either rule.
	system, user := "You answer in one sentence.", "What colour is the sky today?"
	for _, rule := range []string{TokensBytes, TokensBPE} {
		_, url := startLLM(t, LLMConfig{Tokens: rule, PrefixCache: true, DecodeTime: time.Millisecond})
		msgs := func(m ...string) string {
			var parts []string
			for i := 0; i < len(m); i += 2 {
				b, _ := json.Marshal(map[string]string{"role": m[i], "content": m[i+1]})
				parts = append(parts, string(b))
			}
			return `{"messages":[` + strings.Join(parts, ",") + `],"max_tokens":20}`
		}
		var turn1, turn2 struct {
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
			Usage llmUsage
		}
		postJSON(t, url+"/v1/chat/completions", msgs("system", system, "user", user), &turn1)
		answer := turn1.Choices[0].Message.Content
		postJSON(t, url+"/v1/chat/completions", msgs("system", system, "user", user, "assistant", answer, "user", "And at night?"), &turn2)
		// The prompt's blocks alone would give 16 × ⌊p/16⌋; the answer's
		// 20 tokens add at least one block more.
		p := turn1.Usage.Prompt
		if want := (p + 20) / blockTokens * blockTokens; turn2.Usage.Details == nil || turn2.Usage.Details.Cached != want {
			t.Errorf("%s: turn 1 %d prompt tokens; turn 2 %+v, want %d cached", rule, p, turn2.Usage, want)
		}
	}
}

// Requests that share a system prompt hit one another while they run,
// not only once one has ended.
func TestLLMPrefixCacheSharesASystemPrompt(t *testing.T) {
	_, url := startLLM(t, LLMConfig{Tokens: TokensBPE, PrefixCache: true, DecodeTime: time.Millisecond})
	system := strings.Repeat("Answer politely and briefly. ", 10)
	body := func(user string, max int, stream bool) string {
		return fmt.Sprintf(`{"messages":[{"role":"system","content":%q},{"role":"user","content":%q}],"max_tokens":%d,"stream":%t}`,
			system, user, max, stream)
	}
	var a, b struct{ Tokens []uint32 }
	postJSON(t, url+"/tokenize", body("Why?", 1, false), &a)
	postJSON(t, url+"/tokenize", body("How?", 1, false), &b)
	common := 0
	for common < len(a.Tokens) && a.Tokens[common] == b.Tokens[common] {
		common++
	}
	// Run the first for 500 steps; ask the second once the first's
	// first token has come.
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body("Why?", 500, true)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	var second struct{ Usage llmUsage }
	postJSON(t, url+"/v1/chat/completions", body("How?", 1, false), &second)
	// 85 tokens of system message and the user's 3-token header: 5 blocks.
	if want := common / blockTokens * blockTokens; common != 88 || second.Usage.Details == nil || second.Usage.Details.Cached != want {
		t.Errorf("%d tokens in common; the second request %+v, want %d cached", common, second.Usage, want)
	}
}

// metricValue reads the value of the series named name from /metrics.
func metricValue(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+"{"); ok {
			var v float64
			if _, err := fmt.Sscan(rest[strings.Index(rest, "} ")+2:], &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// /metrics says what the scheduler holds under vLLM's names: with two
// slots and five long requests, two run, three wait and the KV cache holds
// the running two's prompts and budgets.
func TestLLMMetricsAsVLLM(t *testing.T) {
	_, url := startLLM(t, LLMConfig{MaxRunning: 2, KVTokens: 1000, DecodeTime: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/completions",
				strings.NewReader(`{"prompt": "`+strings.Repeat("abcd", 100)+`", "max_tokens": 100, "stream": true}`))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				// Read until the test ends: a client that goes away
				// aborts its request.
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	// Until three wait and the two running have been decoded once.
	deadline := time.Now().Add(10 * time.Second)
	for (metricValue(t, url, "vllm:num_requests_waiting") != 3 || metricValue(t, url, "vllm:generation_tokens_total") <= 0) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if r, w, kv := metricValue(t, url, "vllm:num_requests_running"), metricValue(t, url, "vllm:num_requests_waiting"), metricValue(t, url, "vllm:kv_cache_usage_perc"); r != 2 || w != 3 || kv != 0.4 {
		t.Errorf("running %v, waiting %v, KV %v; want 2, 3 and 0.4 (2 × 200 of 1000 tokens)", r, w, kv)
	}
	if n := metricValue(t, url, "vllm:generation_tokens_total"); n <= 0 {
		t.Errorf("%v tokens generated", n)
	}
	cancel()
	wg.Wait()
}
