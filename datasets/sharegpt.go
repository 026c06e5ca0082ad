package datasets

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Faults of a ShareGPT file as a whole.
var (
	errShape    = errors.New("a ShareGPT file is a JSON array of conversations")
	errTrailing = errors.New("data after the array")
)

// ShareGPTOptions filter ShareGPT entries as vLLM's benchmark does, by
// Tokens counts. Zero fields mean the defaults given.
type ShareGPTOptions struct {
	// MinTokens is the least a prompt or a reply may have; default 4.
	MinTokens int
	// MaxPrompt bounds the prompt; default 1024.
	MaxPrompt int
	// MaxTotal bounds the prompt and reply together; default 2048.
	MaxTotal int
}

// ShareGPT reads a ShareGPT JSON file: an array of entries whose
// "conversations" hold turns of {"from", "value"} (or {"role",
// "content"}). The first human turn is the prompt; the reply after it
// sets the output budget. Entries out of the bounds of opt, without a
// prompt or a reply, or not objects are skipped and reported with their
// line. A payload's Index is its entry's place in the array. The file is
// read as a stream, so large dumps need little memory beyond the prompts.
// w, when not nil, makes the prompts conversations replayed turn by turn
// or gives them shared system prompts.
func ShareGPT(path string, opt ShareGPTOptions, seed uint64) (Sized, *Report, error) {
	items, rep, err := readShareGPT(path, opt)
	if err != nil {
		return nil, rep, err
	}
	s := &shareGPT{cycle: newCycle(items, seed)}
	if err := s.init(seed, nil); err != nil {
		return nil, nil, err
	}
	return s, rep, nil
}

// exchange is a usable ShareGPT entry: its index and its turns, each a
// user message and the length of the reply to it in tokens (Tokens).
type exchange struct {
	index int64
	turns []exchangeTurn
}

type exchangeTurn struct {
	prompt string
	reply  int
}

// readShareGPT reads the usable entries of a ShareGPT file.
func readShareGPT(path string, opt ShareGPTOptions) ([]exchange, *Report, error) {
	if opt.MinTokens <= 0 {
		opt.MinTokens = 4
	}
	if opt.MaxPrompt <= 0 {
		opt.MaxPrompt = 1024
	}
	if opt.MaxTotal <= 0 {
		opt.MaxTotal = 2048
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	skipBOM(br)
	in := &lines{r: br, line: 1}
	d := json.NewDecoder(in)
	// fail says what is wrong with the file and where, unless reading it
	// failed.
	fail := func(off int64, err error) error {
		if ioError(err) {
			return fmt.Errorf("dataset: %s: %w", path, err)
		}
		line, col := in.pos(off)
		return fmt.Errorf("dataset: %s:%d:%d: %v", path, line, col, err)
	}

	if t, err := d.Token(); err != nil || t != json.Delim('[') {
		if err == nil || errors.Is(err, io.EOF) {
			err = errShape
		}
		return nil, nil, fail(in.skipSpace(0), err)
	}
	name := filepath.Base(path)
	rep := &Report{Name: "sharegpt " + name}
	var items []exchange
	for i := int64(0); d.More(); i++ {
		prev := d.InputOffset()
		var raw json.RawMessage
		err := d.Decode(&raw)
		start, sep := in.valueStart(prev, i == 0)
		if err != nil {
			if sep {
				start = in.errorAt(start, err)
			}
			return nil, nil, fail(start, err)
		}
		line, _ := in.pos(start)
		skip := func(reason string) {
			rep.Skipped = append(rep.Skipped, Skipped{File: name, Line: line, Reason: reason})
		}
		turns, reason := shareGPTTurns(raw)
		if reason != "" {
			skip(reason)
			continue
		}
		p, r := Tokens(turns[0].Value), Tokens(turns[1].Value)
		switch {
		case p < opt.MinTokens || r < opt.MinTokens:
			skip("too short")
		case p > opt.MaxPrompt || p+r > opt.MaxTotal:
			skip("too long")
		default:
			e := exchange{index: i}
			for k := 0; k+1 < len(turns); k += 2 {
				e.turns = append(e.turns, exchangeTurn{prompt: turns[k].Value, reply: Tokens(turns[k+1].Value)})
			}
			items = append(items, e)
		}
	}
	if _, err := d.Token(); err != nil {
		off := d.InputOffset()
		if errors.Is(err, io.EOF) {
			err, off = io.ErrUnexpectedEOF, in.end()
		}
		return nil, nil, fail(off, err)
	}
	end := d.InputOffset()
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		if !ioError(err) {
			err = errTrailing
		}
		return nil, nil, fail(in.skipSpace(end), err)
	}

	rep.Loaded = len(items)
	if len(items) == 0 {
		return nil, rep, fmt.Errorf("dataset: %s has no usable entries (%s)", path, rep)
	}
	return items, rep, nil
}

// shareGPTTurn is a turn of a conversation in either form.
type shareGPTTurn struct{ From, Value, Role, Content string }

// shareGPTTurns returns an entry's exchanges from its first human turn
// on, as alternating prompts and replies (in Value), or why the entry is
// unusable. Turns of an unknown shape are passed over; of several human
// turns in a row the first is kept, as of several replies.
func shareGPTTurns(raw json.RawMessage) (turns []shareGPTTurn, reason string) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, "not an object"
	}
	var e struct {
		Conversations []shareGPTTurn `json:"conversations"`
	}
	if json.Unmarshal(raw, &e) != nil {
		var loose struct {
			Conversations []json.RawMessage `json:"conversations"`
		}
		_ = json.Unmarshal(raw, &loose) // conversations of the wrong type are none
		e.Conversations = e.Conversations[:0]
		for _, raw := range loose.Conversations {
			var t shareGPTTurn
			if json.Unmarshal(raw, &t) == nil {
				e.Conversations = append(e.Conversations, t)
			}
		}
	}
	for _, t := range e.Conversations {
		text := cmp.Or(t.Value, t.Content)
		switch strings.ToLower(cmp.Or(t.From, t.Role)) {
		case "human", "user":
			if len(turns)%2 == 0 {
				turns = append(turns, shareGPTTurn{Value: text})
			}
		case "gpt", "assistant", "chatgpt", "bard", "model":
			if len(turns)%2 == 1 {
				turns = append(turns, shareGPTTurn{Value: text})
			}
		}
	}
	switch {
	case len(turns) == 0:
		return nil, "no prompt"
	case len(turns) == 1:
		return nil, "no reply"
	}
	return turns[:len(turns)&^1], ""
}

// shareGPT draws the entries of a ShareGPT file, each pass in a new
// seeded order.
type shareGPT struct {
	workload
	cycle[exchange]
}

func (s *shareGPT) Next() (Payload, bool) {
	e := s.draw()
	p := s.first(e, s.cycle.rng)
	s.converse(&p, s.cycle.rng, func(_ *rand.Rand, _, turn int) (string, int, bool) {
		if turn >= len(e.turns) {
			return "", 0, false
		}
		return e.turns[turn].prompt, e.turns[turn].reply, true
	})
	return p, true
}

// first is the request of an entry's first turn.
func (s *shareGPT) first(e exchange, rng *rand.Rand) Payload {
	p := Payload{Index: e.index, System: s.pick(rng), Prompt: e.turns[0].prompt, MaxTokens: e.turns[0].reply}
	p.Asked = s.scale.Tokens(p.Pieces())
	return p
}

// Calibration returns first turns of entries spread over the file.
func (s *shareGPT) Calibration(n int) []Payload {
	rng := rand.New(rand.NewPCG(s.seed, 0x63616c69)) // "cali"
	out := make([]Payload, n)
	for i := range out {
		out[i] = s.first(s.items[rng.IntN(len(s.items))], rng)
	}
	return out
}

var _ Sized = (*shareGPT)(nil)

// shareGPTLengths returns the lengths of a ShareGPT file's first turns:
// its prompts' in pieces, its replies' in tokens (Tokens).
func shareGPTLengths(path string) (prompts, replies []int, err error) {
	items, _, err := readShareGPT(path, ShareGPTOptions{})
	if err != nil {
		return nil, nil, err
	}
	for _, e := range items {
		prompts = append(prompts, Pieces(e.turns[0].prompt))
		replies = append(replies, e.turns[0].reply)
	}
	return prompts, replies, nil
}

// ioError reports whether err came from reading the file rather than
// from what was read.
func ioError(err error) bool {
	var se *json.SyntaxError
	return err != nil && !errors.As(err, &se) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
		err != errShape && err != errTrailing
}
