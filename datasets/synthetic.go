package datasets

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Synthetic returns an endless source of prompts of drawn token counts.
// params is a comma-separated list:
//
//	input=LENGTHS    the user message's tokens (required)
//	output=LENGTHS   the output budget (required)
//	prefix=P         a system prompt of P tokens before the message ...
//	prefixes=N       ... one of N different ones (default 1) ...
//	share=F          ... in a fraction F of the requests (default 1)
//	turns=LENGTHS    conversations of that many turns, each a new message
//	                 of input tokens after the history so far
//	think=DURATION   the pause between an answer and the next turn
//
// LENGTHS is a count N, a uniform range LO-HI, normal(MEAN,SD[,LO-HI]),
// lognormal(MEAN,SD[,LO-HI]) or sharegpt(FILE), the lengths of a ShareGPT
// file's prompts (input) or replies (output).
//
// A prompt is random common words, each a single token in common
// vocabularies, so every prompt differs, which keeps prefix caches from
// flattering the target beyond the shared prefixes asked for. It has
// input + prefix tokens on the server once the source is given the
// server's Scale; each Payload's Asked says so.
func Synthetic(params string, seed uint64) (Sized, error) {
	s := &synthetic{}
	given := map[string]bool{}
	for _, kv := range splitParams(params) {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return nil, fmt.Errorf("dataset: synthetic wants input=N,output=M, got %q", kv)
		}
		if given[k] {
			return nil, fmt.Errorf("dataset: synthetic %s is given twice", k)
		}
		given[k] = true
		var err error
		switch k {
		case "input":
			s.in, err = parseLengths(k, v, true)
		case "output":
			s.out, err = parseLengths(k, v, false)
		case "turns":
			s.turns, err = parseLengths(k, v, false)
			if err == nil && s.turns.kind == "empirical" {
				err = fmt.Errorf("dataset: turns=%s: draw turns from a count, a range or a distribution", v)
			}
		default:
			var known bool
			if known, err = s.option(k, v); !known {
				err = fmt.Errorf("dataset: synthetic has no parameter %q (want input, output, prefix, prefixes, share, turns, think)", k)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if s.in == nil || s.out == nil {
		return nil, fmt.Errorf("dataset: synthetic needs both input and output, e.g. synthetic:input=1024,output=128")
	}
	if err := s.init(seed, given); err != nil {
		return nil, err
	}
	s.rng = rand.New(rand.NewPCG(seed, 0x73796e74)) // "synt"
	return s, nil
}

// synthetic draws prompts for Synthetic.
type synthetic struct {
	workload
	in, out *lengths
	rng     *rand.Rand
	n       int64
}

func (s *synthetic) Next() (Payload, bool) {
	p := s.draw(s.rng, s.in.draw(s.rng, s.scale, true))
	p.Index = s.n
	s.n++
	s.converse(&p, s.rng, s.turn)
	return p, true
}

// draw builds a first turn asking for input tokens of its own.
func (s *synthetic) draw(rng *rand.Rand, input int) Payload {
	p := Payload{System: s.pick(rng), MaxTokens: s.out.draw(rng, s.scale, false), Asked: input}
	if p.System != "" {
		p.Asked += s.prefix
	}
	var b strings.Builder
	n := s.userPieces(p.Asked, p.System, rng)
	b.Grow(8 * n)
	writeWords(&b, n, rng)
	p.Prompt = b.String()
	return p
}

// turn draws a later turn of a conversation of turns turns.
func (s *synthetic) turn(rng *rand.Rand, turns, turn int) (string, int, bool) {
	if turn >= turns {
		return "", 0, false
	}
	var b strings.Builder
	writeWords(&b, max(1, int(float64(s.in.draw(rng, s.scale, false))/s.scale.PerPiece+0.5)), rng)
	return b.String(), s.out.draw(rng, s.scale, false), true
}

// Calibration returns first turns at the low, middle and high input
// sizes, in turn, drawn apart from the run's prompts.
func (s *synthetic) Calibration(n int) []Payload {
	rng := rand.New(rand.NewPCG(s.seed, 0x63616c69)) // "cali"
	lo, mid, hi := s.in.typical()
	out := make([]Payload, n)
	for i := range out {
		out[i] = s.draw(rng, [3]int{lo, mid, hi}[i%3])
		out[i].Index = -1 - int64(i)
	}
	return out
}

var _ Sized = (*synthetic)(nil)
