package datasets

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
)

// Tokens estimates the tokens of a text without a tokenizer, by OpenAI's
// rule of thumb of about four bytes per token: ceil(len/4), so any
// non-empty text has at least one and "" has none.
func Tokens(s string) int { return (len(s) + 3) / 4 }

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

// shuffled cycles through its items without end, each pass in a new
// seeded order.
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
