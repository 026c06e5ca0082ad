package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"

	"github.com/capfinder/capfinder/datasets"
)

// OpenAIConfig configures the OpenAI-compatible client.
type OpenAIConfig struct {
	HTTPConfig
	API rundir.API
	// Model, when set, replaces the model of every request body.
	Model string
	// MaxTokens, when positive, replaces every request's output budget;
	// otherwise a payload's own budget is used.
	MaxTokens int
	// IgnoreEOS asks the engine to generate the whole budget (vLLM,
	// SGLang and TGI honour it).
	IgnoreEOS bool
	// NoStream asks for whole answers instead of streams.
	NoStream bool
}

// OpenAIClient sends OpenAI-compatible completion requests and records
// time to first token, inter-token gaps and token counts. It is safe for
// concurrent use.
type OpenAIClient struct {
	cfg  OpenAIConfig
	http *HTTPClient
}

var _ Client = (*OpenAIClient)(nil)

// EndpointURL completes a base URL with the API's endpoint path when it
// names none ("http://host:8000" → "http://host:8000/v1/chat/completions";
// ".../v1" → ".../v1/chat/completions").
func EndpointURL(raw string, api rundir.API) string {
	u, err := url.Parse(raw)
	if err != nil || (api != rundir.APIOpenAIChat && api != rundir.APIOpenAICompletions) {
		return raw
	}
	switch p := strings.TrimSuffix(u.Path, "/"); p {
	case "":
		u.Path = api.Path()
	case "/v1":
		u.Path = api.Path()
	default:
		return raw
	}
	return u.String()
}

// NewOpenAIClient builds a client for cfg.URL, completed by EndpointURL.
func NewOpenAIClient(cfg OpenAIConfig) (*OpenAIClient, error) {
	if cfg.API != rundir.APIOpenAIChat && cfg.API != rundir.APIOpenAICompletions {
		return nil, fmt.Errorf("probe: %q is not an OpenAI API", cfg.API)
	}
	cfg.URL = EndpointURL(cfg.URL, cfg.API)
	cfg.Method = "POST"
	if cfg.Header == nil {
		cfg.Header = make(map[string][]string)
	} else {
		cfg.Header = cfg.Header.Clone()
	}
	if cfg.Header.Get("Content-Type") == "" {
		cfg.Header.Set("Content-Type", "application/json")
	}
	h, err := newHTTPClient(cfg.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &OpenAIClient{cfg: cfg, http: h}, nil
}

// URL is the endpoint the client sends to.
func (c *OpenAIClient) URL() string { return c.cfg.URL }

// Body returns the JSON body sent for p: p's own body with the client's
// overrides, or one built from its prompt.
func (c *OpenAIClient) Body(p datasets.Payload) ([]byte, error) {
	m := map[string]any{}
	if p.Body != nil {
		d := json.NewDecoder(bytes.NewReader(p.Body))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			return nil, fmt.Errorf("probe: payload %d is not a JSON object: %w", p.Index, err)
		}
	} else if c.cfg.API == rundir.APIOpenAIChat {
		m["messages"] = p.Messages()
	} else {
		m["prompt"] = p.Text()
	}
	if c.cfg.Model != "" {
		m["model"] = c.cfg.Model
	}
	switch {
	case c.cfg.MaxTokens > 0:
		m["max_tokens"] = c.cfg.MaxTokens
		delete(m, "max_completion_tokens")
	case p.MaxTokens > 0 && m["max_tokens"] == nil && m["max_completion_tokens"] == nil:
		m["max_tokens"] = p.MaxTokens
	}
	if c.cfg.IgnoreEOS {
		m["ignore_eos"] = true
	}
	m["stream"] = !c.cfg.NoStream
	if c.cfg.NoStream {
		delete(m, "stream_options")
	} else {
		m["stream_options"] = map[string]any{"include_usage": true}
	}
	return json.Marshal(m)
}

// Do sends one request and fills rec, tokens included.
func (c *OpenAIClient) Do(ctx context.Context, p datasets.Payload, rec *rundir.Record, clk Clock) {
	body, err := c.Body(p)
	if err != nil {
		rec.EndNs = clk.Now()
		rec.Error = rundir.ErrProtocol
		return
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.http.cfg.Timeout, errTimeout)
	defer cancel()
	resp, ok := c.http.send(ctx, body, rec, clk)
	if !ok {
		return
	}
	defer resp.Body.Close()
	cr := &countingReader{r: resp.Body, max: c.http.cfg.MaxBody}
	if rec.Error != "" || c.cfg.NoStream {
		err = c.whole(cr, rec, p.Conv)
	} else {
		err = c.stream(ctx, cr, rec, clk, p.Conv)
		defer drain(resp.Body, cancel)
	}
	rec.EndNs = clk.Now()
	rec.BytesIn = cr.n
	switch {
	case rec.Error != "":
	case errors.Is(err, errTruncated):
		rec.Error = rundir.ErrProtocol
	case err != nil:
		fail(ctx, err, rec)
	}
}

// CloseIdleConnections closes the connections kept for reuse.
func (c *OpenAIClient) CloseIdleConnections() { c.http.CloseIdleConnections() }

// chunk is what the client reads of a streamed or whole answer.
type chunk struct {
	Choices []struct {
		Delta struct {
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content"`
		} `json:"delta"`
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage          `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// usage is the token counts of an answer.
type usage struct {
	PromptTokens        int32 `json:"prompt_tokens"`
	CompletionTokens    int32 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int32 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

// record writes the counts into rec.
func (u *usage) record(rec *rundir.Record) {
	rec.PromptTokens, rec.OutputTokens, rec.TokenSource = u.PromptTokens, u.CompletionTokens, "usage"
	if d := u.PromptTokensDetails; d != nil {
		rec.CachedTokens = d.CachedTokens
	}
}

// text is the generated text a chunk carries, whichever API it is from.
func (ch *chunk) text() string {
	var s string
	for _, c := range ch.Choices {
		s += c.Delta.ReasoningContent + c.Delta.Content + c.Message.Content + c.Text
	}
	return s
}

func (ch *chunk) finished() bool {
	for _, c := range ch.Choices {
		if c.FinishReason != nil && *c.FinishReason != "" {
			return true
		}
	}
	return false
}

// The rest of a stream after [DONE] is read for at most drainGrace and
// drainBytes before its connection is given up.
const (
	drainGrace = 100 * time.Millisecond
	drainBytes = 64 << 10
)

// drain reads what is left of a body after the answer ended, so that its
// connection can carry the next request: net/http reuses a connection
// only when its body was read to EOF, and a server may write the chunked
// terminator apart from [DONE] (uvicorn does). A server that sends more,
// or not soon, loses the connection: cancel ends the read.
func drain(body io.Reader, cancel context.CancelFunc) {
	t := time.AfterFunc(drainGrace, cancel)
	defer t.Stop()
	io.CopyN(io.Discard, body, drainBytes)
}

// errTruncated is a stream that ended before its end: no [DONE] and no
// finish reason.
var errTruncated = errors.New("probe: stream ended early")

// stream reads an SSE answer: the first non-empty content marks the first
// token, the gaps between content chunks the inter-token latency, and the
// usage chunk the token counts. The text goes to conv, when the answer is
// a conversation's turn.
func (c *OpenAIClient) stream(ctx context.Context, r io.Reader, rec *rundir.Record, clk Clock, conv *datasets.Conversation) error {
	sr := NewSSEReader(r)
	finished := false
	var last int64
	for {
		ev, err := sr.Next()
		if err == io.EOF {
			if finished {
				break
			}
			return errTruncated
		}
		if err != nil {
			return err
		}
		now := clk.Now()
		rec.Events++
		if string(ev.Data) == "[DONE]" {
			break
		}
		var ch chunk
		if err := json.Unmarshal(ev.Data, &ch); err != nil {
			rec.Error = rundir.ErrProtocol
			return nil
		}
		if len(ch.Error) > 0 && string(ch.Error) != "null" {
			rec.Error = rundir.ErrMidStream
			return nil
		}
		if text := ch.text(); text != "" {
			if conv != nil {
				conv.Received(text)
			}
			if rec.FirstTokenNs == 0 {
				rec.FirstTokenNs = markFirstToken(ctx, now)
			} else {
				rec.ITLMaxNs = max(rec.ITLMaxNs, now-last)
			}
			last = now
			rec.LastTokenNs = now
			rec.Chunks++
		}
		if ch.Usage != nil {
			ch.Usage.record(rec)
		}
		finished = finished || ch.finished()
	}
	if rec.TokenSource == "" {
		rec.OutputTokens, rec.TokenSource = rec.Chunks, "chunks"
	}
	return nil
}

// whole reads a non-streamed answer, or the body of an error; its text
// goes to conv as stream's does.
func (c *OpenAIClient) whole(r io.Reader, rec *rundir.Record, conv *datasets.Conversation) error {
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil || rec.Error != "" {
		return err
	}
	var ch chunk
	if err := json.Unmarshal(b, &ch); err != nil {
		rec.Error = rundir.ErrProtocol
		return nil
	}
	if len(ch.Error) > 0 && string(ch.Error) != "null" {
		rec.Error = rundir.ErrMidStream
		return nil
	}
	if conv != nil {
		conv.Received(ch.text())
	}
	if ch.Usage != nil {
		ch.Usage.record(rec)
	} else {
		rec.OutputTokens, rec.TokenSource = int32(datasets.Tokens(ch.text())), "text"
	}
	return nil
}

// countingReader counts the bytes read through it, and fails with
// errTooLarge past max.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, errTooLarge
	}
	return n, err
}

// errTooLarge is an answer over HTTPConfig.MaxBody.
var errTooLarge = errors.New("probe: answer over the body limit")

// SSEClient sends plain requests to a service that answers with a stream
// of server-sent events (workflow APIs). It records the first event's
// time (as FirstTokenNs), the events with data and the largest gap
// between them. It is safe for concurrent use.
type SSEClient struct {
	http *HTTPClient
}

var _ Client = (*SSEClient)(nil)

// NewSSEClient builds a client for cfg.URL.
func NewSSEClient(cfg HTTPConfig) (*SSEClient, error) {
	h, err := newHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	return &SSEClient{http: h}, nil
}

// Do sends one request and reads its events to the end of the stream.
func (c *SSEClient) Do(ctx context.Context, p datasets.Payload, rec *rundir.Record, clk Clock) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.http.cfg.Timeout, errTimeout)
	defer cancel()
	resp, ok := c.http.send(ctx, p.Body, rec, clk)
	if !ok {
		return
	}
	defer resp.Body.Close()
	cr := &countingReader{r: resp.Body, max: c.http.cfg.MaxBody}
	var err error
	if rec.Error != "" {
		_, err = io.Copy(io.Discard, cr)
	} else {
		err = readEvents(ctx, cr, rec, clk)
	}
	rec.EndNs = clk.Now()
	rec.BytesIn = cr.n
	if err != nil && rec.Error == "" {
		fail(ctx, err, rec)
	}
}

// CloseIdleConnections closes the connections kept for reuse.
func (c *SSEClient) CloseIdleConnections() { c.http.CloseIdleConnections() }

// readEvents times the events of a stream until it ends.
func readEvents(ctx context.Context, r io.Reader, rec *rundir.Record, clk Clock) error {
	sr := NewSSEReader(r)
	for {
		_, err := sr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		now := clk.Now()
		if rec.FirstTokenNs == 0 {
			rec.FirstTokenNs = markFirstToken(ctx, now)
		} else {
			rec.ITLMaxNs = max(rec.ITLMaxNs, now-rec.LastTokenNs)
		}
		rec.LastTokenNs = now
		rec.Events++
		rec.Chunks++
	}
}
