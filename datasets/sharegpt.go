package datasets

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	var items []Payload
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
	return newShuffled(items, seed), rep, nil
}

// shareGPTTurn is a turn of a conversation in either form.
type shareGPTTurn struct{ From, Value, Role, Content string }

// shareGPTTurns returns an entry's first human turn and the reply after
// it, or why the entry is unusable. Turns of an unknown shape are passed
// over.
func shareGPTTurns(raw json.RawMessage) (prompt, reply, reason string) {
	if len(raw) == 0 || raw[0] != '{' {
		return "", "", "not an object"
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
	found := false
	for _, t := range e.Conversations {
		switch strings.ToLower(cmp.Or(t.From, t.Role)) {
		case "human", "user":
			if !found {
				prompt, found = cmp.Or(t.Value, t.Content), true
			}
		case "gpt", "assistant", "chatgpt", "bard", "model":
			if found {
				return prompt, cmp.Or(t.Value, t.Content), ""
			}
		}
	}
	if !found {
		return "", "", "no prompt"
	}
	return "", "", "no reply"
}

// ioError reports whether err came from reading the file rather than
// from what was read.
func ioError(err error) bool {
	var se *json.SyntaxError
	return err != nil && !errors.As(err, &se) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
		err != errShape && err != errTrailing
}
