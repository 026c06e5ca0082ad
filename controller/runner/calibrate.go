package runner

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe"
	"github.com/capfinder/capfinder/probe/rundir"
)

// CalibrationRequests is how many prompts calibration counts: enough for
// the mean tokens of a piece of real text to within about a percent, few
// enough to take seconds (each asks for a single output token). A third
// are counted first, at sizes a piece a token; the rest at the sizes the
// first fit gives, which are those the run sends.
const CalibrationRequests = 24

// sample is a calibration prompt: its pieces and the server's count.
type sample struct {
	payload datasets.Payload
	tokens  int
}

// calibrate fits the scale of src's prompts in the server's tokens, as
// s.Calibrate and s.Tokenizer say, and sizes src with it. The requests it
// sends are recorded through w as step 0; row is their step, with no
// requests when none were sent. A server that cannot be asked leaves the
// prompts unscaled, and the calibration says why.
func (r *Runner) calibrate(ctx context.Context, src datasets.Sized, w probe.RecordWriter, clock probe.Clock) (rundir.Calibration, rundir.StepRow, error) {
	s := r.spec
	cal := rundir.Calibration{Method: "none", PerPiece: 1}
	row := rundir.StepRow{Phase: rundir.PhaseCalibrate, Verdict: rundir.PhaseCalibrate, StartNs: clock.Now()}
	if r.tokenizer == nil && s.Calibrate == rundir.CalibrateOff {
		cal.Why = "--calibrate off"
		return cal, row, nil
	}
	// count has the prompts counted by the method of cal, choosing it on
	// the first round: usage, else the tokenize endpoint.
	count := func(payloads []datasets.Payload) ([]sample, error) {
		switch {
		case r.tokenizer != nil:
			cal.Method, cal.Source = "tokenizer", s.Tokenizer
			out := make([]sample, len(payloads))
			for i, p := range payloads {
				out[i] = sample{p, r.tokenizer.count(p.Text())}
			}
			return out, nil
		case cal.Method == "none" && s.Calibrate != rundir.CalibrateTokenize, cal.Method == "usage":
			got, err := r.askUsage(ctx, payloads, w, clock, &row)
			if len(got) >= 2 || err != nil || s.Calibrate == rundir.CalibrateUsage {
				cal.Method = "usage"
				return got, err
			}
		}
		cal.Method, cal.Source = "tokenize", tokenizeURL(s.URL)
		return r.askTokenize(ctx, cal.Source, payloads)
	}
	var pieces, tokens []float64
	fit := func(n int) (datasets.Scale, error) {
		got, err := count(src.Calibration(n))
		if err != nil {
			return datasets.Scale{}, err
		}
		for _, x := range got {
			pieces, tokens = append(pieces, float64(x.payload.Pieces())), append(tokens, float64(x.tokens))
		}
		return datasets.FitScale(pieces, tokens)
	}
	first := CalibrationRequests / 3
	sc, err := fit(first)
	if err == nil {
		src.SetScale(sc)
		sc, err = fit(CalibrationRequests - first)
	}
	row.EndNs = clock.Now() + 1
	row.JudgedStartNs, row.JudgedEndNs = row.StartNs, row.StartNs
	if err != nil {
		src.SetScale(datasets.Unscaled)
		if errors.Is(err, probe.ErrRecording) {
			return cal, row, err
		}
		cal.Method, cal.Source = "none", ""
		cal.Why = "the server counted no prompt tokens: its answers carry no usage.prompt_tokens and it has no tokenize endpoint"
		if len(pieces) > 0 {
			cal.Why = err.Error()
		}
		return cal, row, ctx.Err()
	}
	src.SetScale(sc)
	cal.Samples, cal.Overhead, cal.PerPiece = len(pieces), sc.Overhead, sc.PerPiece
	return cal, row, nil
}

// askUsage sends the calibration prompts, each for one output token, and
// reads their usage.prompt_tokens; the requests are recorded as step 0,
// and counted in row.
func (r *Runner) askUsage(ctx context.Context, payloads []datasets.Payload, w probe.RecordWriter, clock probe.Clock, row *rundir.StepRow) ([]sample, error) {
	s := r.spec
	s.MaxTokens, s.IgnoreEOS = 1, false
	client, err := newClient(s)
	if err != nil {
		return nil, err
	}
	if c, ok := client.(interface{ CloseIdleConnections() }); ok {
		defer c.CloseIdleConnections()
	}
	recs := make([]rundir.Record, len(payloads))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				p := payloads[i]
				p.Asked = 0 // sized before the server was asked
				now := clock.Now()
				recs[i] = rundir.Record{Step: 0, ScheduledNs: now, SentNs: now, Payload: p.Index, Seq: row.Sent + int64(i) + 1}
				client.Do(ctx, p, &recs[i], clock)
			}
		})
	}
	for i := range payloads {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	var out []sample
	sent := recs[:0]
	for i, rec := range recs {
		if rec.SentNs == 0 {
			continue // not sent: interrupted
		}
		sent = append(sent, rec)
		if rec.OK() && rec.PromptTokens > 0 && rec.TokenSource == "usage" {
			out = append(out, sample{payloads[i], int(rec.PromptTokens)})
		}
	}
	row.Sent += int64(len(sent))
	if err := w.Write(sent); err != nil {
		return nil, fmt.Errorf("%w: %w", probe.ErrRecording, err)
	}
	return out, ctx.Err()
}

// tokenizeURL is the tokenize endpoint beside the target's API: vLLM,
// SGLang, llama.cpp's server and TGI serve /tokenize at the root their
// /v1 hangs from.
func tokenizeURL(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return ""
	}
	prefix, _, _ := strings.Cut(u.Path, "/v1/")
	if strings.HasSuffix(u.Path, "/v1") {
		prefix = strings.TrimSuffix(u.Path, "/v1")
	}
	u.Path, u.RawQuery, u.Fragment = strings.TrimSuffix(prefix, "/")+"/tokenize", "", ""
	return u.String()
}

// tokenizeForms are the bodies engines' tokenize endpoints take, tried in
// turn: vLLM's and SGLang's (with chat messages, so the count holds the
// template), llama.cpp's and TGI's.
var tokenizeForms = []func(s Spec, p datasets.Payload) any{
	func(s Spec, p datasets.Payload) any {
		m := map[string]any{}
		if s.Model != "" {
			m["model"] = s.Model
		}
		if s.API == rundir.APIOpenAIChat {
			m["messages"] = p.Messages()
		} else {
			m["prompt"] = p.Text()
		}
		return m
	},
	func(_ Spec, p datasets.Payload) any { return map[string]any{"content": p.Text()} },
	func(_ Spec, p datasets.Payload) any { return map[string]any{"inputs": p.Text()} },
}

// askTokenize counts the calibration prompts with the engine's tokenize
// endpoint, in the first form it takes.
func (r *Runner) askTokenize(ctx context.Context, endpoint string, payloads []datasets.Payload) ([]sample, error) {
	s := r.spec
	header, err := expandHeaders(s.Header)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.Insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	hc := &http.Client{Transport: tr, Timeout: s.Timeout}
	defer hc.CloseIdleConnections()
	count := func(body any) (int, bool) {
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(b))
		if err != nil {
			return 0, false
		}
		req.Header = header.Clone()
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil || resp.StatusCode != http.StatusOK {
			return 0, false
		}
		return tokenCount(data)
	}
	var out []sample
	for _, form := range tokenizeForms {
		for _, p := range payloads {
			n, ok := count(form(s, p))
			if !ok {
				break
			}
			out = append(out, sample{p, n})
		}
		if len(out) == len(payloads) || ctx.Err() != nil {
			break
		}
		out = out[:0]
	}
	if len(out) < len(payloads) {
		out = nil
	}
	return out, ctx.Err()
}

// tokenCount reads a tokenize answer: {"count": N}, {"tokens": [...]} or
// a list of tokens.
func tokenCount(data []byte) (int, bool) {
	var obj struct {
		Count  *int              `json:"count"`
		Tokens []json.RawMessage `json:"tokens"`
	}
	if json.Unmarshal(data, &obj) == nil {
		switch {
		case obj.Count != nil:
			return *obj.Count, *obj.Count > 0
		case obj.Tokens != nil:
			return len(obj.Tokens), len(obj.Tokens) > 0
		}
		return 0, false
	}
	var list []json.RawMessage
	if json.Unmarshal(data, &list) == nil {
		return len(list), len(list) > 0
	}
	return 0, false
}

// errNoTokenizer wraps a tokenizer file that cannot be used.
var errNoTokenizer = errors.New("--tokenizer")
