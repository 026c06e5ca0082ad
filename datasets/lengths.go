package datasets

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// maxSynthetic bounds synthetic token counts: 2 Mi tokens is beyond any
// model's context and keeps a prompt within 16 MiB.
const maxSynthetic = 1 << 21

// lengths is a distribution of token counts: fixed, uniform, normal or
// lognormal (truncated to a range), or the empirical lengths of a file.
type lengths struct {
	kind     string // "fixed", "uniform", "normal", "lognormal", "empirical"
	lo, hi   int    // the range drawn counts are kept in
	mean, sd float64
	// mu and sigma are the lognormal's parameters, from mean and sd.
	mu, sigma float64
	// values are the empirical lengths: of prompts in pieces, scaled by
	// the run's calibration when drawn; of replies in tokens.
	values []int
}

// draw returns a count in tokens; sc scales the empirical lengths of
// prompts, read in pieces.
func (l *lengths) draw(rng *rand.Rand, sc Scale, prompt bool) int {
	switch l.kind {
	case "fixed":
		return l.lo
	case "uniform":
		return l.lo + rng.IntN(l.hi-l.lo+1)
	case "empirical":
		n := l.values[rng.IntN(len(l.values))]
		if prompt {
			return sc.Tokens(n)
		}
		return n
	}
	// A normal or lognormal draw outside the range is drawn again, so the
	// shape within the range is kept; after many misses it is clamped.
	var x float64
	for range 64 {
		if l.kind == "normal" {
			x = l.mean + l.sd*rng.NormFloat64()
		} else {
			x = math.Exp(l.mu + l.sigma*rng.NormFloat64())
		}
		if x = math.Round(x); x >= float64(l.lo) && x <= float64(l.hi) {
			break
		}
	}
	return min(max(int(x), l.lo), l.hi)
}

// typical is a count of the middle of the distribution, and spread a
// low and a high one, for calibration prompts of the sizes a run sends.
func (l *lengths) typical() (lo, mid, hi int) {
	switch l.kind {
	case "empirical":
		return l.lo, (l.lo + l.hi) / 2, l.hi
	case "normal", "lognormal":
		m := min(max(int(math.Round(l.mean)), l.lo), l.hi)
		return max(l.lo, m-int(l.sd)), m, min(l.hi, m+int(l.sd))
	case "fixed":
		// Sizes around the one sent tell the template's overhead from the
		// tokens per piece.
		return max(1, l.lo/2), l.lo, l.lo + l.lo/2
	}
	return l.lo, (l.lo + l.hi) / 2, l.hi
}

// parseLengths reads the value v of parameter key:
//
//	N                          fixed
//	LO-HI                      uniform
//	normal(MEAN,SD[,LO-HI])    normal, truncated to LO-HI (default 1 to MEAN+5·SD)
//	lognormal(MEAN,SD[,LO-HI]) lognormal of that mean and sd, truncated
//	sharegpt(FILE)             the prompt (input) or reply (output) lengths of a ShareGPT file
func parseLengths(key, v string, input bool) (*lengths, error) {
	v = strings.TrimSpace(v)
	bad := func(format string, a ...any) error {
		return fmt.Errorf("dataset: synthetic %s=%q %s", key, v, fmt.Sprintf(format, a...))
	}
	name, args, isCall := strings.Cut(v, "(")
	if !isCall {
		lo, hi, err := parseRange(v)
		if err != nil {
			return nil, bad("%v (want N, LO-HI, normal(MEAN,SD), lognormal(MEAN,SD) or sharegpt(FILE))", err)
		}
		if lo == hi {
			return &lengths{kind: "fixed", lo: lo, hi: hi, mean: float64(lo)}, nil
		}
		return &lengths{kind: "uniform", lo: lo, hi: hi, mean: float64(lo+hi) / 2}, nil
	}
	if !strings.HasSuffix(args, ")") {
		return nil, bad("opens a ( without its )")
	}
	args = strings.TrimSuffix(args, ")")
	switch name = strings.TrimSpace(name); name {
	case "sharegpt":
		in, out, err := shareGPTLengths(strings.TrimSpace(args))
		if err != nil {
			return nil, err
		}
		l := &lengths{kind: "empirical", values: out}
		if input {
			l.values = in
		}
		l.lo, l.hi = l.values[0], l.values[0]
		for _, x := range l.values {
			l.lo, l.hi = min(l.lo, x), max(l.hi, x)
			l.mean += float64(x) / float64(len(l.values))
		}
		return l, nil
	case "normal", "lognormal":
	default:
		return nil, bad("names no distribution %q (want normal, lognormal or sharegpt)", name)
	}
	parts := strings.Split(args, ",")
	if len(parts) != 2 && len(parts) != 3 {
		return nil, bad("needs a mean, a standard deviation and optionally a range LO-HI")
	}
	mean, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
	sd, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
	if err1 != nil || err2 != nil || !(mean >= 1) || !(sd >= 0) || mean > maxSynthetic {
		return nil, bad("needs a mean of at least 1 and a standard deviation not negative")
	}
	l := &lengths{kind: name, mean: mean, sd: sd, lo: 1, hi: min(maxSynthetic, int(math.Ceil(mean+5*sd)))}
	if len(parts) == 3 {
		if l.lo, l.hi, err1 = parseRange(parts[2]); err1 != nil {
			return nil, bad("has a range that %v", err1)
		}
	}
	if float64(l.hi) < mean-3*sd || float64(l.lo) > mean+3*sd {
		return nil, bad("has a range %d-%d that misses the distribution", l.lo, l.hi)
	}
	if name == "lognormal" {
		l.sigma = math.Sqrt(math.Log1p(sd * sd / (mean * mean)))
		l.mu = math.Log(mean) - l.sigma*l.sigma/2
	}
	return l, nil
}

// parseRange reads "N" or "LO-HI", positive counts within maxSynthetic.
func parseRange(v string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(v, "-")
	lo, err = strconv.Atoi(strings.TrimSpace(a))
	hi = lo
	if err == nil && isRange {
		hi, err = strconv.Atoi(strings.TrimSpace(b))
	}
	switch {
	case err != nil:
		return 0, 0, errors.New("is not a count or a range like 128-512")
	case lo < 1 || hi < 1:
		return 0, 0, errors.New("must be positive")
	case hi < lo:
		return 0, 0, errors.New("must go from low to high")
	case hi > maxSynthetic:
		return 0, 0, fmt.Errorf("is over the limit of %d tokens", maxSynthetic)
	}
	return lo, hi, nil
}

// splitParams splits "a=1,b=normal(2,3),c" at the commas outside
// parentheses.
func splitParams(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
