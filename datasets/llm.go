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
	"strings"
)

// Tokens estimates the tokens of a text without a tokenizer, by OpenAI's
// rule of thumb of about four bytes per token: ceil(len/4), so any
// non-empty text has at least one and "" has none.
func Tokens(s string) int { return (len(s) + 3) / 4 }

// Open opens a dataset named by spec: "synthetic:PARAMS",
// "sharegpt:PATH[,PARAMS]", "jsonl:PATH", or a PATH ending in .json
// (ShareGPT) or .jsonl. A ShareGPT file's PARAMS are those of the
// workload (prefix, prefixes, share, think; see Synthetic) and
// turns=all, which replays each conversation turn by turn. The report is
// nil for synthetic data.
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
		return openShareGPT(rest, seed)
	case "jsonl":
		return JSONL(rest, seed)
	}
	return nil, nil, fmt.Errorf("dataset: %q is not synthetic:input=N,output=M, sharegpt:FILE, jsonl:FILE or a .json/.jsonl file", spec)
}

// openShareGPT opens "PATH[,PARAMS]".
func openShareGPT(spec string, seed uint64) (Source, *Report, error) {
	parts := splitParams(spec)
	var w workload
	given := map[string]bool{}
	for _, kv := range parts[1:] {
		k, v, _ := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		given[k] = true
		known, err := w.option(k, v)
		switch {
		case err != nil:
			return nil, nil, err
		case known:
		case k == "turns" && v == "all":
			w.replay = true
		case k == "turns":
			return nil, nil, fmt.Errorf("dataset: turns=%s: a ShareGPT file takes turns=all (replay each conversation) or nothing (first turns)", v)
		default:
			return nil, nil, fmt.Errorf("dataset: sharegpt has no parameter %q (want turns, think, prefix, prefixes, share)", k)
		}
	}
	src, rep, err := ShareGPT(strings.TrimSpace(parts[0]), ShareGPTOptions{}, seed)
	if err != nil {
		return nil, rep, err
	}
	s := src.(*shareGPT)
	s.workload = w
	if err := s.init(seed, given); err != nil {
		return nil, nil, err
	}
	return s, rep, nil
}

// cycle goes through its items without end, each pass in a new seeded
// order.
type cycle[T any] struct {
	items []T
	next  int
	rng   *rand.Rand
}

func newCycle[T any](items []T, seed uint64) cycle[T] {
	c := cycle[T]{items: items, rng: rand.New(rand.NewPCG(seed, 0x64617461))} // "data"
	c.shuffle()
	return c
}

func (c *cycle[T]) shuffle() {
	c.rng.Shuffle(len(c.items), func(i, j int) { c.items[i], c.items[j] = c.items[j], c.items[i] })
}

func (c *cycle[T]) draw() T {
	if c.next == len(c.items) {
		c.shuffle()
		c.next = 0
	}
	x := c.items[c.next]
	c.next++
	return x
}

// shuffled yields its payloads in cycles.
type shuffled struct{ cycle[Payload] }

func newShuffled(items []Payload, seed uint64) *shuffled {
	return &shuffled{newCycle(items, seed)}
}

func (s *shuffled) Next() (Payload, bool) { return s.draw(), true }

// JSONL reads a file of one JSON object per line, each a request body
// kept as it is (an LLM client merges its own fields into it). Blank
// lines are ignored; lines that are not objects are skipped and
// reported. A payload's Index is its 0-based line.
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
	skipBOM(r)
	for n := 0; ; n++ {
		line, err := r.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("dataset: %s:%d: %w", path, n+1, err)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			// Valid JSON that opens with a brace is an object.
			if t[0] == '{' && json.Valid(t) {
				items = append(items, Payload{Index: int64(n), Body: t})
			} else {
				rep.Skipped = append(rep.Skipped, Skipped{File: name, Line: n + 1, Reason: "not a JSON object"})
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
