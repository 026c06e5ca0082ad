package datasets

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// maxSynthetic bounds synthetic token counts: 2 Mi tokens is beyond any
// model's context and keeps a prompt within 8 MiB.
const maxSynthetic = 1 << 21

// Synthetic returns an endless source of prompts with uniform random
// token counts: params is "input=N,output=M", each either a count or an
// inclusive range "lo-hi". A prompt is random three-letter words, each
// with a space after it, so it has exactly its drawn count by Tokens and
// every prompt differs, which keeps prefix caches from flattering the
// target. MaxTokens is the drawn output count.
func Synthetic(params string, seed uint64) (Source, error) {
	var s synthetic
	var seen [2]bool
	for _, kv := range strings.Split(params, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return nil, fmt.Errorf("dataset: synthetic wants input=N,output=M, got %q", kv)
		}
		var i int
		switch k {
		case "input":
			i = 0
		case "output":
			i = 1
		default:
			return nil, fmt.Errorf("dataset: synthetic has no parameter %q (want input and output)", k)
		}
		if seen[i] {
			return nil, fmt.Errorf("dataset: synthetic %s is given twice", k)
		}
		sp, err := parseSpan(k, v)
		if err != nil {
			return nil, err
		}
		seen[i] = true
		if i == 0 {
			s.in = sp
		} else {
			s.out = sp
		}
	}
	if !seen[0] || !seen[1] {
		return nil, fmt.Errorf("dataset: synthetic needs both input and output, e.g. synthetic:input=1024,output=128")
	}
	s.rng = rand.New(rand.NewPCG(seed, 0x73796e74)) // "synt"
	return &s, nil
}

// span is an inclusive range of token counts.
type span struct{ lo, hi int }

func (s span) draw(rng *rand.Rand) int { return s.lo + rng.IntN(s.hi-s.lo+1) }

// parseSpan reads the value v of parameter key: "N" or "lo-hi".
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
	case a < 1 || b < 1:
		return span{}, fmt.Errorf("dataset: synthetic %s=%q must be positive", key, v)
	case b < a:
		return span{}, fmt.Errorf("dataset: synthetic %s=%q must go from low to high", key, v)
	case b > maxSynthetic:
		return span{}, fmt.Errorf("dataset: synthetic %s=%q is over the limit of %d tokens", key, v, maxSynthetic)
	}
	return span{a, b}, nil
}

// synthetic draws prompts for Synthetic.
type synthetic struct {
	in, out span
	rng     *rand.Rand
	n       int64
}

func (s *synthetic) Next() (Payload, bool) {
	n := s.in.draw(s.rng)
	var b strings.Builder
	b.Grow(4 * n)
	for range n {
		w := s.rng.IntN(26 * 26 * 26)
		b.Write([]byte{byte('a' + w%26), byte('a' + w/26%26), byte('a' + w/(26*26)), ' '})
	}
	p := Payload{Index: s.n, Prompt: b.String(), MaxTokens: s.out.draw(s.rng)}
	s.n++
	return p, true
}
