package probetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LLMConfig configures an LLM replica. Zero fields mean the defaults given.
type LLMConfig struct {
	// Model is the name /v1/models lists and answers carry; default "sim".
	Model string
	// MaxRunning is the most sequences decoded together (vLLM's
	// max_num_seqs); default 64.
	MaxRunning int
	// KVTokens is the KV-cache budget: a sequence is admitted only when
	// its prompt and its whole output budget fit beside the running ones;
	// default 131072.
	KVTokens int
	// DecodeTime is one decode step with a single sequence; each running
	// sequence adds DecodePerSeq. Defaults 10 ms and 250 µs.
	DecodeTime, DecodePerSeq time.Duration
	// PrefillPerToken is the cost of a prompt token, paid in the step that
	// admits the sequence; default 20 µs.
	PrefillPerToken time.Duration
	// DefaultMaxTokens is the output length of a request that names none;
	// default 256. Every request generates exactly its budget: the
	// replica never stops early (as with ignore_eos).
	DefaultMaxTokens int
	// ErrorRate is the fraction of streamed requests that get an error
	// object halfway through instead of the rest of their tokens.
	ErrorRate float64
	Seed      uint64
	// Tokens names the rule that counts prompt tokens: TokensBytes (the
	// default) or TokensBPE, whose doc comments give the rules. The
	// answer's tokens are always one per tokenText.
	Tokens string
	// Split, when set, counts prompt tokens instead of Tokens' rule (a
	// real tokenizer, in tests), with TokensBPE's chat template around
	// each message.
	Split Splitter
	// PrefixCache turns on automatic prefix caching as vLLM does it. A
	// prompt's tokens are cut into blocks of 16, each keyed by a hash of
	// every token up to its end; a sequence is admitted with the longest
	// run of its leading full blocks in the cache, less any block holding
	// its last token (which is always computed, for the first output
	// token), and its prefill pays only for the rest. The prompt's full
	// blocks enter the cache at admission, so requests that share a
	// system prompt hit one another, and when the sequence ends, so do
	// the blocks of its prompt followed by the tokens it generated, so a
	// conversation's next turn, which sends the earlier messages and the
	// answer, hits its history. Usage then reports
	// prompt_tokens_details.cached_tokens, as vLLM's does with
	// --enable-prompt-tokens-details.
	PrefixCache bool
	// PrefixCacheTokens is the most tokens the prefix cache holds, in
	// whole blocks, evicting the least recently used block first;
	// default KVTokens.
	PrefixCacheTokens int
}

func (c *LLMConfig) defaults() {
	if c.Model == "" {
		c.Model = "sim"
	}
	if c.MaxRunning <= 0 {
		c.MaxRunning = 64
	}
	if c.KVTokens <= 0 {
		c.KVTokens = 131072
	}
	if c.DecodeTime <= 0 {
		c.DecodeTime = 10 * time.Millisecond
	}
	if c.DecodePerSeq <= 0 {
		c.DecodePerSeq = 250 * time.Microsecond
	}
	if c.PrefillPerToken <= 0 {
		c.PrefillPerToken = 20 * time.Microsecond
	}
	if c.DefaultMaxTokens <= 0 {
		c.DefaultMaxTokens = 256
	}
	if c.Tokens == "" {
		c.Tokens = TokensBytes
	}
	if c.PrefixCacheTokens <= 0 {
		c.PrefixCacheTokens = c.KVTokens
	}
}

// StepTime is how long a decode step takes with batch sequences running
// and prefill prompt tokens admitted in it.
func (c LLMConfig) StepTime(batch, prefill int) time.Duration {
	return c.DecodeTime + time.Duration(batch)*c.DecodePerSeq + time.Duration(prefill)*c.PrefillPerToken
}

// Capacity is the most requests per second the replica completes when
// every request has prompt input and output output tokens.
//
// The batch holds B = min(MaxRunning, KVTokens / (input + output))
// sequences. Each request costs output decode steps and, once, the
// prefill of its prompt, so in one second λ requests spend λ·input·
// PrefillPerToken on prefill and the rest on steps of T(B) = DecodeTime +
// B·DecodePerSeq that each give B tokens:
//
//	λ·output = B·(1 − λ·input·PrefillPerToken) / T(B)
//	λ = B / (output·T(B) + B·input·PrefillPerToken)
//
// Below λ a request waits at most one step to join the batch, so its
// time to first token is one to two steps; at λ the waiting queue grows
// without bound. Capacity counts every prompt token as prefilled: with
// PrefixCache, requests that share prefixes pay less and may go faster.
func (c LLMConfig) Capacity(input, output int) float64 {
	c.defaults()
	if output <= 0 {
		output = c.DefaultMaxTokens
	}
	b := min(c.MaxRunning, c.KVTokens/max(input+output, 1))
	if b == 0 {
		return 0
	}
	t := c.StepTime(b, 0).Seconds()
	return float64(b) / (float64(output)*t + float64(b)*float64(input)*c.PrefillPerToken.Seconds())
}

// LLM is an OpenAI-compatible inference replica with continuous batching:
// /v1/chat/completions, /v1/completions and /v1/models, streaming exactly
// as vLLM does (a role chunk, content chunks of one token, a finish chunk,
// a usage chunk when stream_options.include_usage asks, then [DONE]), and
// vLLM's /tokenize, which counts a prompt or messages as prompt_tokens
// counts them.
//
// One scheduler goroutine runs decode steps back to back against absolute
// times: each step admits waiting sequences first-come-first-served while
// the batch and the KV budget allow, lasts StepTime, and gives every
// running sequence one token (a newly admitted one its first, after its
// prefill). Prompt tokens are counted by the rule Config().Tokens names
// and, with PrefixCache, prefilled only past their cached prefix.
type LLM struct {
	cfg LLMConfig
	// split counts prompt tokens, with a chat template when template.
	split    Splitter
	template bool

	mu      sync.Mutex
	rng     *rand.Rand
	waiting []*sequence
	cache   *prefixCache  // the scheduler's own; nil without PrefixCache
	wake    chan struct{} // an arrival for an idle scheduler (capacity 1)
	stop    chan struct{}
	stopped sync.Once
	ids     atomic.Int64

	served, failed, aborted, tokens, promptTokens, cachedTokens atomic.Int64
	// What /metrics reports: the scheduler's state after its last step,
	// and its counts of tokens.
	running, kvUsed, waitingN                atomic.Int64
	prefilled, generated, queried, cacheHits atomic.Int64
}

// sequence is one request in the replica.
type sequence struct {
	prompt, budget int
	fail           int // fail after this many tokens; 0 never
	produced       int // tokens so far; the scheduler's until it closes tokens
	// blocks keys the prefix cache's blocks of the prompt followed by the
	// whole answer; nil without a cache.
	blocks []uint64
	// hit is how many prompt tokens were cached at admission, set by the
	// scheduler before it sends the first token.
	hit int
	// tokens receives a value per token produced and is closed at the
	// end; it holds the whole budget, so the scheduler never blocks.
	tokens chan struct{}
	gone   atomic.Bool // the client went away
}

// NewLLM starts a replica's scheduler; Close stops it. It panics if
// cfg.Tokens names no rule.
func NewLLM(cfg LLMConfig) *LLM {
	cfg.defaults()
	if cfg.Tokens != TokensBytes && cfg.Tokens != TokensBPE {
		panic(fmt.Sprintf("probetest: unknown LLMConfig.Tokens %q", cfg.Tokens))
	}
	l := &LLM{
		cfg:  cfg,
		rng:  rand.New(rand.NewPCG(cfg.Seed, 0x6c6c6d)),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
	}
	l.split, l.template = splitterOf(cfg)
	if cfg.PrefixCache {
		l.cache = newPrefixCache(cfg.PrefixCacheTokens)
	}
	go l.run()
	return l
}

// Config returns the replica's configuration with defaults filled in.
func (l *LLM) Config() LLMConfig { return l.cfg }

// Close stops the scheduler; requests in flight end without their tokens.
func (l *LLM) Close() { l.stopped.Do(func() { close(l.stop) }) }

// LLMStats counts what the replica did.
type LLMStats struct {
	// Served counts completed requests; Failed those given an error
	// mid-stream; Aborted those whose client went away.
	Served, Failed, Aborted int64
	// Tokens sums the output tokens of the completed requests,
	// PromptTokens their prompt tokens and CachedTokens those of their
	// prompt tokens found in the prefix cache, as their usage reports
	// them.
	Tokens, PromptTokens, CachedTokens int64
}

// Stats returns the counts so far.
func (l *LLM) Stats() LLMStats {
	return LLMStats{
		Served: l.served.Load(), Failed: l.failed.Load(), Aborted: l.aborted.Load(),
		Tokens: l.tokens.Load(), PromptTokens: l.promptTokens.Load(), CachedTokens: l.cachedTokens.Load(),
	}
}

// run is the scheduler: decode steps back to back while anything runs.
func (l *LLM) run() {
	var running []*sequence
	kv := 0
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	next := time.Now()
	for {
		l.mu.Lock()
		prefill := 0
		for len(l.waiting) > 0 && len(running) < l.cfg.MaxRunning {
			s := l.waiting[0]
			if kv+s.prompt+s.budget > l.cfg.KVTokens && len(running) > 0 {
				break
			}
			l.waiting = l.waiting[1:]
			if s.gone.Load() {
				close(s.tokens)
				continue
			}
			running = append(running, s)
			kv += s.prompt + s.budget
			if l.cache != nil {
				// The last prompt token is always computed, for the
				// first output token, as vLLM does.
				s.hit = l.cache.lookup(s.blocks[:max(s.prompt-1, 0)/blockTokens]) * blockTokens
				l.cache.insert(s.blocks[:s.prompt/blockTokens])
			}
			prefill += s.prompt - s.hit
			l.prefilled.Add(int64(s.prompt))
			l.queried.Add(int64(s.prompt))
			l.cacheHits.Add(int64(s.hit))
		}
		l.waitingN.Store(int64(len(l.waiting)))
		l.running.Store(int64(len(running)))
		l.kvUsed.Store(int64(kv))
		l.mu.Unlock()
		if len(running) == 0 {
			select {
			case <-l.wake:
				next = time.Now()
				continue
			case <-l.stop:
				return
			}
		}
		next = next.Add(l.cfg.StepTime(len(running), prefill))
		timer.Reset(time.Until(next))
		select {
		case <-timer.C:
		case <-l.stop:
			for _, s := range running {
				close(s.tokens)
			}
			return
		}
		if time.Until(next) < -time.Second {
			// The machine stalled for longer than a second; do not make
			// up for it with a burst of zero-length steps.
			next = time.Now()
		}
		kept := running[:0]
		for _, s := range running {
			done := s.gone.Load()
			if !done {
				s.tokens <- struct{}{}
				s.produced++
				l.generated.Add(1)
				done = s.produced == s.budget || s.produced == s.fail
			}
			if done {
				if l.cache != nil {
					l.cache.insert(s.blocks[:(s.prompt+s.produced)/blockTokens])
				}
				close(s.tokens)
				kv -= s.prompt + s.budget
				continue
			}
			kept = append(kept, s)
		}
		clear(running[len(kept):])
		running = kept
	}
}

// llmRequest is what the replica reads of a request body.
type llmRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	AddGenerationPrompt *bool           `json:"add_generation_prompt"`
	Prompt              json.RawMessage `json:"prompt"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// input reads a chat request's messages (contents as plain strings or
// arrays of text parts) or a completion's prompt.
func (r *llmRequest) input(chat bool) (*input, error) {
	text := func(raw json.RawMessage) (string, error) {
		if len(raw) == 0 || string(raw) == "null" {
			return "", nil
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, nil
		}
		var parts []struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(raw, &parts); err == nil {
			var b strings.Builder
			for _, p := range parts {
				b.WriteString(p.Text)
			}
			return b.String(), nil
		}
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return "", fmt.Errorf("content must be a string or a list of text parts")
		}
		return strings.Join(list, ""), nil
	}
	in := &input{chat: chat, generation: r.AddGenerationPrompt == nil || *r.AddGenerationPrompt}
	if !chat {
		if len(r.Prompt) == 0 {
			return nil, fmt.Errorf("prompt is required")
		}
		var err error
		in.text, err = text(r.Prompt)
		return in, err
	}
	if len(r.Messages) == 0 {
		return nil, fmt.Errorf("messages: at least one message is required")
	}
	var all strings.Builder
	for _, m := range r.Messages {
		content, err := text(m.Content)
		if err != nil {
			return nil, err
		}
		in.messages = append(in.messages, message{role: m.Role, content: content})
		all.WriteString(content)
	}
	in.text = all.String()
	return in, nil
}

// ServeHTTP serves the OpenAI-compatible API.
func (l *LLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/metrics":
		l.metrics(w)
	case "/v1/models":
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{
			map[string]any{"id": l.cfg.Model, "object": "model", "created": 0, "owned_by": "capfinder"},
		}})
	case "/v1/chat/completions":
		l.complete(w, r, true)
	case "/v1/completions":
		l.complete(w, r, false)
	case "/tokenize":
		l.tokenize(w, r)
	default:
		apiError(w, http.StatusNotFound, "NotFoundError", "no route "+r.URL.Path)
	}
}

// read reads a POSTed request for the replica's model and its input, a
// chat's if chat says so; having answered an error, it returns nil.
func (l *LLM) read(w http.ResponseWriter, r *http.Request, chat func(*llmRequest) bool) (*llmRequest, *input) {
	if r.Method != http.MethodPost {
		apiError(w, http.StatusMethodNotAllowed, "BadRequestError", "use POST")
		return nil, nil
	}
	var req llmRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "BadRequestError", "invalid JSON body: "+err.Error())
		return nil, nil
	}
	if req.Model != "" && req.Model != l.cfg.Model {
		apiError(w, http.StatusNotFound, "NotFoundError", fmt.Sprintf("The model `%s` does not exist.", req.Model))
		return nil, nil
	}
	in, err := req.input(chat(&req))
	if err != nil {
		apiError(w, http.StatusBadRequest, "BadRequestError", err.Error())
		return nil, nil
	}
	return &req, in
}

// tokenize answers vLLM's /tokenize: a body with a prompt, or with
// messages and add_generation_prompt (default true), gets the count and
// ids of its tokens, the count being the prompt_tokens of a request that
// sends the same.
func (l *LLM) tokenize(w http.ResponseWriter, r *http.Request) {
	_, in := l.read(w, r, func(req *llmRequest) bool { return req.Messages != nil })
	if in == nil {
		return
	}
	ids := in.ids(l.split, l.template, "")
	writeJSON(w, http.StatusOK, map[string]any{"count": len(ids), "max_model_len": l.cfg.KVTokens, "tokens": ids})
}

func (l *LLM) complete(w http.ResponseWriter, r *http.Request, chat bool) {
	req, in := l.read(w, r, func(*llmRequest) bool { return chat })
	if in == nil {
		return
	}
	budget := l.cfg.DefaultMaxTokens
	for _, m := range []*int{req.MaxTokens, req.MaxCompletionTokens} {
		if m != nil {
			budget = *m
		}
	}
	prompt := in.count(l.split, l.template)
	switch {
	case budget < 1:
		apiError(w, http.StatusBadRequest, "BadRequestError", "max_tokens must be at least 1")
		return
	case prompt+budget > l.cfg.KVTokens:
		apiError(w, http.StatusBadRequest, "BadRequestError", fmt.Sprintf(
			"This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion).",
			l.cfg.KVTokens, prompt+budget, prompt, budget))
		return
	}
	s := &sequence{prompt: prompt, budget: budget, tokens: make(chan struct{}, budget)}
	if l.cache != nil {
		s.blocks = blockKeys(in.ids(l.split, l.template, strings.Repeat(tokenText, budget)))
	}
	l.mu.Lock()
	if l.cfg.ErrorRate > 0 && l.rng.Float64() < l.cfg.ErrorRate {
		s.fail = max(budget/2, 1)
	}
	l.waiting = append(l.waiting, s)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	c := chunker{id: l.ids.Add(1), model: l.cfg.Model, chat: chat, cached: l.cache != nil}
	if req.Stream {
		l.stream(w, r, s, c, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return
	}
	n := 0
	for {
		select {
		case _, ok := <-s.tokens:
			if !ok {
				l.finish(w, s, c, n)
				return
			}
			n++
		case <-r.Context().Done():
			s.gone.Store(true)
			l.aborted.Add(1)
			return
		}
	}
}

// finish answers a non-streamed request once its sequence has ended.
func (l *LLM) finish(w http.ResponseWriter, s *sequence, c chunker, n int) {
	switch {
	case n == s.fail:
		l.failed.Add(1)
		apiError(w, http.StatusInternalServerError, "InternalServerError", "simulated failure")
	case n < s.budget:
		apiError(w, http.StatusServiceUnavailable, "ServiceUnavailableError", "the replica is shutting down")
	default:
		l.serve(s)
		writeJSON(w, http.StatusOK, c.whole(strings.Repeat(tokenText, n), s))
	}
}

// serve counts a sequence completed.
func (l *LLM) serve(s *sequence) {
	l.served.Add(1)
	l.tokens.Add(int64(s.produced))
	l.promptTokens.Add(int64(s.prompt))
	l.cachedTokens.Add(int64(s.hit))
}

// stream sends a sequence's tokens as vLLM streams them.
func (l *LLM) stream(w http.ResponseWriter, r *http.Request, s *sequence, c chunker, usage bool) {
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if fl != nil {
		fl.Flush()
	}
	buf := make([]byte, 0, 512)
	send := func(v any) {
		buf = append(buf[:0], "data: "...)
		if v == nil {
			buf = append(buf, "[DONE]"...)
		} else {
			buf, _ = appendJSON(buf, v)
		}
		buf = append(buf, "\n\n"...)
		_, _ = w.Write(buf)
	}
	n := 0
	for {
		select {
		case _, ok := <-s.tokens:
			if !ok {
				switch {
				case n == s.fail:
					l.failed.Add(1)
					send(map[string]any{"error": map[string]any{
						"object": "error", "message": "simulated failure", "type": "InternalServerError", "param": nil, "code": 500,
					}})
				case n < s.budget:
					// Shut down mid-sequence: end the stream without its finish.
					return
				default:
					l.serve(s)
					send(c.chunk("", "length"))
					if usage {
						send(c.usage(s))
					}
				}
				send(nil)
				if fl != nil {
					fl.Flush()
				}
				return
			}
			if n == 0 && c.chat {
				send(c.role())
			}
			n++
			send(c.chunk(tokenText, ""))
			if fl != nil {
				fl.Flush()
			}
		case <-r.Context().Done():
			s.gone.Store(true)
			l.aborted.Add(1)
			return
		}
	}
}

// tokenText is the text of every generated token: four bytes, one token.
const tokenText = " tok"

// chunker builds the JSON objects of one answer.
type chunker struct {
	id    int64
	model string
	chat  bool
	// cached has usage report prompt_tokens_details.cached_tokens.
	cached bool
}

func (c chunker) head(object string) map[string]any {
	prefix := "cmpl-"
	if c.chat {
		prefix = "chatcmpl-"
	}
	return map[string]any{"id": prefix + strconv.FormatInt(c.id, 10), "object": object, "created": 1700000000, "model": c.model}
}

func (c chunker) role() map[string]any {
	m := c.head("chat.completion.chunk")
	m["choices"] = []any{map[string]any{
		"index": 0, "delta": map[string]any{"role": "assistant", "content": ""}, "logprobs": nil, "finish_reason": nil,
	}}
	return m
}

// chunk is a content chunk, or with a finish reason the finish chunk.
func (c chunker) chunk(text, finish string) map[string]any {
	var reason any
	if finish != "" {
		reason = finish
	}
	if c.chat {
		m := c.head("chat.completion.chunk")
		m["choices"] = []any{map[string]any{
			"index": 0, "delta": map[string]any{"content": text}, "logprobs": nil, "finish_reason": reason, "stop_reason": nil,
		}}
		return m
	}
	m := c.head("text_completion")
	m["choices"] = []any{map[string]any{"index": 0, "text": text, "logprobs": nil, "finish_reason": reason, "stop_reason": nil}}
	return m
}

// usage is the usage chunk of a completed sequence.
func (c chunker) usage(s *sequence) map[string]any {
	object := "text_completion"
	if c.chat {
		object = "chat.completion.chunk"
	}
	m := c.head(object)
	m["choices"] = []any{}
	m["usage"] = c.usageOf(s)
	return m
}

func (c chunker) usageOf(s *sequence) map[string]any {
	u := map[string]any{"prompt_tokens": s.prompt, "total_tokens": s.prompt + s.produced, "completion_tokens": s.produced}
	if c.cached {
		u["prompt_tokens_details"] = map[string]any{"cached_tokens": s.hit}
	}
	return u
}

// whole is a completed sequence's non-streamed answer.
func (c chunker) whole(text string, s *sequence) map[string]any {
	if c.chat {
		m := c.head("chat.completion")
		m["choices"] = []any{map[string]any{
			"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "logprobs": nil, "finish_reason": "length",
		}}
		m["usage"] = c.usageOf(s)
		return m
	}
	m := c.head("text_completion")
	m["choices"] = []any{map[string]any{"index": 0, "text": text, "logprobs": nil, "finish_reason": "length"}}
	m["usage"] = c.usageOf(s)
	return m
}

func appendJSON(buf []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(buf, b...), err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError answers with an OpenAI-style error object.
func apiError(w http.ResponseWriter, status int, kind, msg string) {
	writeJSON(w, status, map[string]any{"object": "error", "message": msg, "type": kind, "param": nil, "code": status})
}

var _ http.Handler = (*LLM)(nil)

// metrics writes the replica's state in Prometheus text, under the names
// vLLM gives it: requests running and waiting, KV-cache use (a fraction
// of KVTokens held by the running sequences' prompts and budgets),
// preemptions (none: a sequence is admitted only when its whole budget
// fits), tokens and prefix-cache lookups, and one histogram, which a
// reader of gauges and counters leaves out.
func (l *LLM) metrics(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	label := fmt.Sprintf(`{model_name=%q}`, l.cfg.Model)
	metric := func(name, kind, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s%s %g\n", name, help, name, kind, name, label, v)
	}
	metric("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", float64(l.running.Load()))
	metric("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", float64(l.waitingN.Load()))
	metric("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", float64(l.kvUsed.Load())/float64(l.cfg.KVTokens))
	metric("vllm:num_preemptions_total", "counter", "Cumulative number of preemptions from the engine.", 0)
	metric("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.", float64(l.prefilled.Load()))
	metric("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.", float64(l.generated.Load()))
	metric("vllm:prefix_cache_queries_total", "counter", "Prefix cache queries, in terms of number of queried tokens.", float64(l.queried.Load()))
	metric("vllm:prefix_cache_hits_total", "counter", "Prefix cache hits, in terms of number of cached tokens.", float64(l.cacheHits.Load()))
	fmt.Fprintf(w, "# HELP vllm:request_success_total Count of successfully processed requests.\n# TYPE vllm:request_success_total counter\n")
	fmt.Fprintf(w, "vllm:request_success_total{finished_reason=\"length\",model_name=%q} %d\n", l.cfg.Model, l.served.Load())
	fmt.Fprintf(w, "# HELP vllm:iteration_tokens_total Histogram of tokens per engine step.\n# TYPE vllm:iteration_tokens_total histogram\n")
	fmt.Fprintf(w, "vllm:iteration_tokens_total_bucket{le=\"+Inf\",model_name=%q} %d\n", l.cfg.Model, l.generated.Load())
	fmt.Fprintf(w, "vllm:iteration_tokens_total_count{model_name=%q} %d\n", l.cfg.Model, l.generated.Load())
}
