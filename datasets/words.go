package datasets

import (
	_ "embed"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"
)

// wordList holds 1,024 common English words, each a single token with a
// space before it in both cl100k and o200k (the vocabularies of GPT-4,
// GPT-4o and, as cl100k's superset, Llama 3), and a single piece by
// Pieces. Synthetic prompts are made of them, so that a prompt's length in
// a server's tokens is a stable multiple of its words.
//
//go:embed words.txt
var wordList string

var words = strings.Fields(wordList)

// writeWords writes n random words, each after a space, to b.
func writeWords(b *strings.Builder, n int, rng *rand.Rand) {
	for range n {
		b.WriteByte(' ')
		b.WriteString(words[rng.IntN(len(words))])
	}
}

// Pieces counts a text's pieces as byte-pair tokenizers split text before
// they merge it: a run of letters with at most one space or mark before
// it, a run of up to three digits, a run of other symbols, a run of white
// space; a run of letters longer than 16 is a piece more for every 16. A word of the synthetic prompts is one piece (and one token); a
// piece of other text is a token or a few. A server's count of a prompt
// is thus close to a line in its pieces, which calibration fits (Scale).
func Pieces(s string) int {
	n := 0
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		n++
		switch {
		case unicode.IsDigit(r):
			for k := 0; k < 3 && i < len(s); k++ {
				if r, w = utf8.DecodeRuneInString(s[i:]); !unicode.IsDigit(r) {
					break
				}
				i += w
			}
		case unicode.IsSpace(r):
			i += w
			if next, _ := utf8.DecodeRuneInString(s[i:]); r == ' ' && unicode.IsLetter(next) {
				n, i = n-1, skipLetters(s, i, &n)
				continue
			}
			for i < len(s) {
				if r, w = utf8.DecodeRuneInString(s[i:]); !unicode.IsSpace(r) {
					break
				}
				i += w
			}
		case unicode.IsLetter(r):
			n, i = n-1, skipLetters(s, i, &n)
		default:
			i += w
			if next, _ := utf8.DecodeRuneInString(s[i:]); unicode.IsLetter(next) {
				n, i = n-1, skipLetters(s, i, &n)
				continue
			}
			for i < len(s) {
				if r, w = utf8.DecodeRuneInString(s[i:]); unicode.IsSpace(r) || unicode.IsLetter(r) || unicode.IsDigit(r) {
					break
				}
				i += w
			}
		}
	}
	return n
}

// skipLetters returns the end of the run of letters at i, and adds its
// pieces to n: one for a word, one more for every 16 letters beyond, as a
// long run (a hash, a word of many parts) is several tokens.
func skipLetters(s string, i int, n *int) int {
	letters := 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsLetter(r) && !unicode.Is(unicode.Mn, r) {
			break
		}
		i += w
		letters++
	}
	*n += 1 + max(letters-1, 0)/16
	return i
}

// Scale sizes prompts in a server's tokens: a request whose prompt has n
// pieces (Pieces over every message it sends) counts Overhead + PerPiece·n
// tokens on the server. Overhead is the chat template's tokens (role
// headers, end markers, the assistant's generation prompt); PerPiece is
// the tokens per piece, 1 for the synthetic words in the vocabularies
// they were chosen from.
type Scale struct {
	Overhead float64 `json:"overhead_tokens"`
	PerPiece float64 `json:"tokens_per_piece"`
}

// Unscaled is the scale of a run not calibrated: a piece is a token.
var Unscaled = Scale{PerPiece: 1}

// Tokens is the server's count of a prompt of n pieces, at least 1.
func (s Scale) Tokens(pieces int) int {
	return max(1, int(math.Round(s.Overhead+s.PerPiece*float64(pieces))))
}

// FitScale fits the line tokens = Overhead + PerPiece·pieces by least
// squares over calibration samples: each request's pieces and the tokens
// the server counted. Samples of a single size fit a line through zero.
func FitScale(pieces, tokens []float64) (Scale, error) {
	n := float64(len(pieces))
	if len(pieces) == 0 || len(pieces) != len(tokens) {
		return Scale{}, errors.New("datasets: no calibration samples")
	}
	var mx, my float64
	for i := range pieces {
		mx += pieces[i] / n
		my += tokens[i] / n
	}
	var sxx, sxy float64
	for i := range pieces {
		sxx += (pieces[i] - mx) * (pieces[i] - mx)
		sxy += (pieces[i] - mx) * (tokens[i] - my)
	}
	s := Scale{PerPiece: my / mx}
	if sxx > 0 {
		s.PerPiece = sxy / sxx
		s.Overhead = my - s.PerPiece*mx
	}
	if !(s.PerPiece > 0) || math.IsInf(s.PerPiece, 0) || math.IsNaN(s.Overhead) {
		return Scale{}, errors.New("datasets: the server's token counts do not grow with the prompt")
	}
	return s, nil
}
