package datasets

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Tokens estimates the tokens of a text without a tokenizer, by the rule
// of thumb of about four bytes per token: ceil(len/4), so any text has at
// least one.
func Tokens(s string) int { return (len(s) + 3) / 4 }

// Skipped is a dataset entry left out, and why.
type Skipped struct {
	File   string
	Line   int
	Reason string
}

// Report says what a dataset file gave: the entries loaded and those
// skipped.
type Report struct {
	Name    string
	Loaded  int
	Skipped []Skipped
}

// Counts returns the skipped entries per reason.
func (r *Report) Counts() map[string]int {
	m := map[string]int{}
	for _, s := range r.Skipped {
		m[s.Reason]++
	}
	return m
}

// String is the report in one line, e.g. "sharegpt data.json: 980
// entries, 20 skipped (too long: 12, no reply: 8; first at data.json:345)".
func (r *Report) String() string {
	s := fmt.Sprintf("%s: %d entries", r.Name, r.Loaded)
	if len(r.Skipped) == 0 {
		return s
	}
	counts := r.Counts()
	reasons := make([]string, 0, len(counts))
	for k := range counts {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, k := range reasons {
		parts[i] = fmt.Sprintf("%s: %d", k, counts[k])
	}
	first := r.Skipped[0]
	return fmt.Sprintf("%s, %d skipped (%s; first at %s:%d)", s, len(r.Skipped), strings.Join(parts, ", "), first.File, first.Line)
}

// ShareGPTOptions filter ShareGPT entries as vLLM's benchmark does. Zero
// fields mean the defaults given.
type ShareGPTOptions struct {
	// MinTokens is the least a prompt or a reply may have; default 4.
	MinTokens int
	// MaxPrompt bounds the prompt (default 1024), MaxTotal the prompt and
	// reply together (default 2048).
	MaxPrompt, MaxTotal int
}

// ShareGPT reads a ShareGPT JSON file: an array of entries whose
// "conversations" hold turns of {"from", "value"} (or {"role",
// "content"}). The first human turn is the prompt; the reply after it
// sets the output budget. Entries out of the bounds of opt, without a
// prompt or a reply, or not objects are skipped and reported with their
// line.
func ShareGPT(path string, opt ShareGPTOptions, seed uint64) (Source, *Report, error) {
	if opt.MinTokens <= 0 {
		opt.MinTokens = 4
	}
	if opt.MaxPrompt <= 0 {
		opt.MaxPrompt = 1024
	}
	if opt.MaxTotal <= 0 {
		opt.MaxTotal = 2048
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	name := filepath.Base(path)
	rep := &Report{Name: "sharegpt " + name}
	d := json.NewDecoder(bytes.NewReader(data))
	where := func(off int64) string {
		line, col := position(data, off)
		return fmt.Sprintf("%s:%d:%d", path, line, col)
	}
	if t, err := d.Token(); err != nil || t != json.Delim('[') {
		return nil, nil, fmt.Errorf("dataset: %s: a ShareGPT file is a JSON array of conversations", where(d.InputOffset()))
	}
	var items []Payload
	for i := int64(0); d.More(); i++ {
		start := d.InputOffset()
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			off := d.InputOffset()
			if errors.Is(err, io.ErrUnexpectedEOF) {
				off = int64(len(data))
			}
			return nil, nil, fmt.Errorf("dataset: %s: %v", where(off), err)
		}
		// The entry starts after the separator and blanks before it.
		start += int64(len(data[start:]) - len(bytes.TrimLeft(data[start:], ", \t\r\n")))
		line, _ := position(data, start)
		skip := func(reason string) {
			rep.Skipped = append(rep.Skipped, Skipped{File: name, Line: line, Reason: reason})
		}
		prompt, reply, reason := shareGPTTurns(raw)
		if reason != "" {
			skip(reason)
			continue
		}
		p, r := Tokens(prompt), Tokens(reply)
		switch {
		case p < opt.MinTokens || r < opt.MinTokens:
			skip("too short")
		case p > opt.MaxPrompt || p+r > opt.MaxTotal:
			skip("too long")
		default:
			items = append(items, Payload{Index: i, Prompt: prompt, MaxTokens: r})
		}
	}
	if _, err := d.Token(); err != nil {
		return nil, nil, fmt.Errorf("dataset: %s: %v", where(d.InputOffset()), err)
	}
	rep.Loaded = len(items)
	if len(items) == 0 {
		return nil, rep, fmt.Errorf("dataset: %s has no usable entries (%s)", path, rep)
	}
	return newShuffled(items, seed), rep, nil
}

// shareGPTTurns returns an entry's first human turn and the reply after
// it, or why the entry is unusable.
func shareGPTTurns(raw json.RawMessage) (prompt, reply, reason string) {
	var e struct {
		Conversations []struct {
			From    string `json:"from"`
			Value   string `json:"value"`
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"conversations"`
	}
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &e) != nil {
		return "", "", "not an object"
	}
	found := false
	for _, t := range e.Conversations {
		who, text := t.From+t.Role, t.Value+t.Content
		switch {
		case !found && (who == "human" || who == "user"):
			prompt, found = text, true
		case found && (who == "gpt" || who == "assistant" || who == "chatgpt" || who == "bard" || who == "model"):
			return prompt, text, ""
		}
	}
	if !found {
		return "", "", "no prompt"
	}
	return "", "", "no reply"
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// JSONL reads a file of one JSON object per line, each a request body.
// Blank lines are ignored; lines that are not objects are skipped and
// reported.
func JSONL(path string, seed uint64) (Source, *Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	name := filepath.Base(path)
	rep := &Report{Name: "jsonl " + name}
	var items []Payload
	r := bufio.NewReader(f)
	for n := 0; ; n++ {
		line, err := r.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("dataset: %s:%d: %w", path, n+1, err)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			var obj map[string]json.RawMessage
			if t[0] != '{' || json.Unmarshal(t, &obj) != nil {
				rep.Skipped = append(rep.Skipped, Skipped{File: name, Line: n + 1, Reason: "not a JSON object"})
			} else {
				items = append(items, Payload{Index: int64(n), Body: bytes.Clone(t)})
			}
		}
		if err != nil {
			break
		}
	}
	rep.Loaded = len(items)
	if len(items) == 0 {
		return nil, rep, fmt.Errorf("dataset: %s has no usable lines (%s)", path, rep)
	}
	return newShuffled(items, seed), rep, nil
}

// shuffled cycles through its items, each pass in a new seeded order.
type shuffled struct {
	items []Payload
	next  int
	rng   *rand.Rand
}

func newShuffled(items []Payload, seed uint64) *shuffled {
	s := &shuffled{items: items, rng: rand.New(rand.NewPCG(seed, 0x64617461))} // "data"
	s.shuffle()
	return s
}

func (s *shuffled) shuffle() {
	s.rng.Shuffle(len(s.items), func(i, j int) { s.items[i], s.items[j] = s.items[j], s.items[i] })
}

func (s *shuffled) Next() (Payload, bool) {
	if s.next == len(s.items) {
		s.shuffle()
		s.next = 0
	}
	p := s.items[s.next]
	s.next++
	return p, true
}

// span is an inclusive range of token counts.
type span struct{ lo, hi int }

func (s span) draw(rng *rand.Rand) int { return s.lo + rng.IntN(s.hi-s.lo+1) }

func parseSpan(key, v string) (span, error) {
	lo, hi, isRange := strings.Cut(v, "-")
	a, err := strconv.Atoi(strings.TrimSpace(lo))
	b := a
	if err == nil && isRange {
		b, err = strconv.Atoi(strings.TrimSpace(hi))
	}
	switch {
	case err != nil:
		return span{}, fmt.Errorf("dataset: synthetic %s=%q is not a count or a range like 128-512", key, v)
	case a < 1 || b < a:
		return span{}, fmt.Errorf("dataset: synthetic %s=%q must be positive, low to high", key, v)
	}
	return span{a, b}, nil
}

// Synthetic returns an endless source of prompts with uniform random
// token counts: params is "input=N,output=M", either a count or a range
// "lo-hi". Each prompt is distinct (random three-letter words, a token
// each), so prefix caches do not flatter the target.
func Synthetic(params string, seed uint64) (Source, error) {
	var in, out span
	var seen [2]bool
	for _, kv := range strings.Split(params, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return nil, fmt.Errorf("dataset: synthetic wants input=N,output=M, got %q", kv)
		}
		sp, err := parseSpan(k, v)
		switch {
		case k != "input" && k != "output":
			return nil, fmt.Errorf("dataset: synthetic has no parameter %q (want input and output)", k)
		case err != nil:
			return nil, err
		case k == "input":
			in, seen[0] = sp, true
		default:
			out, seen[1] = sp, true
		}
	}
	if !seen[0] || !seen[1] {
		return nil, fmt.Errorf("dataset: synthetic needs both input and output, e.g. synthetic:input=1024,output=128")
	}
	return &synthetic{in: in, out: out, rng: rand.New(rand.NewPCG(seed, 0x73796e74))}, nil // "synt"
}

type synthetic struct {
	in, out span
	rng     *rand.Rand
	n       int64
	buf     []byte
}

func (s *synthetic) Next() (Payload, bool) {
	n := s.in.draw(s.rng)
	s.buf = s.buf[:0]
	for range n {
		s.buf = append(s.buf, byte('a'+s.rng.IntN(26)), byte('a'+s.rng.IntN(26)), byte('a'+s.rng.IntN(26)), ' ')
	}
	p := Payload{Index: s.n, Prompt: string(s.buf), MaxTokens: s.out.draw(s.rng)}
	s.n++
	return p, true
}

// Open opens a dataset named by spec: "synthetic:PARAMS",
// "sharegpt:PATH", "jsonl:PATH", or a PATH ending in .json (ShareGPT) or
// .jsonl. The report is nil for synthetic data.
func Open(spec string, seed uint64) (Source, *Report, error) {
	kind, rest, ok := strings.Cut(spec, ":")
	if !ok || (kind != "synthetic" && kind != "sharegpt" && kind != "jsonl") {
		kind, rest = "", spec
		switch strings.ToLower(filepath.Ext(spec)) {
		case ".json":
			kind = "sharegpt"
		case ".jsonl":
			kind = "jsonl"
		}
	}
	switch kind {
	case "synthetic":
		s, err := Synthetic(rest, seed)
		return s, nil, err
	case "sharegpt":
		return ShareGPT(rest, ShareGPTOptions{}, seed)
	case "jsonl":
		return JSONL(rest, seed)
	}
	return nil, nil, fmt.Errorf("dataset: %q is not synthetic:input=N,output=M, sharegpt:FILE, jsonl:FILE or a .json/.jsonl file", spec)
}
