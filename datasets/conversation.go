package datasets

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Conversation is a multi-turn exchange in progress: each turn's request
// carries the history so far, with the answers the assistant actually
// gave. Its turns run one after another, so one goroutine at a time uses
// it.
type Conversation struct {
	// ID numbers a run's conversations from 1.
	ID int64
	// Think is the pause between an answer and the next turn.
	Think time.Duration

	turn    int
	last    Payload
	history []Message
	answer  strings.Builder
	// next gives the user message and output budget of a later turn;
	// false when the conversation has no such turn.
	next func(turn int) (prompt string, maxTokens int, ok bool)
}

// Received adds text to the answer of the turn in flight.
func (c *Conversation) Received(text string) { c.answer.WriteString(text) }

// Next returns the turn after the one just answered: its history holds
// that turn's prompt and the answer received. It reports false when the
// conversation is over.
func (c *Conversation) Next() (Payload, bool) {
	prompt, budget, ok := c.next(c.turn + 1)
	if !ok {
		return Payload{}, false
	}
	c.history = append(c.history, Message{"user", c.last.Prompt}, Message{"assistant", c.answer.String()})
	c.answer.Reset()
	c.turn++
	p := c.last
	p.History = c.history[:len(c.history):len(c.history)]
	p.Prompt, p.MaxTokens, p.Asked, p.Turn, p.Conv = prompt, budget, 0, c.turn, c
	c.last = p
	return p, true
}

// workload is what synthetic and ShareGPT sources share: system prompts
// shared across requests (the traffic prefix caching serves), and
// conversations.
type workload struct {
	// prefixes system prompts of prefix tokens; share of the
	// conversations (or requests) carry one, drawn at random.
	prefixes, prefix int
	share            float64
	// turns draws a synthetic conversation's turns; nil for single
	// requests. replay plays every turn of a ShareGPT conversation.
	turns  *lengths
	replay bool
	think  time.Duration

	scale  Scale
	system []string
	seed   uint64
	convs  int64
}

// option reads one of the workload's parameters; false when key is not
// one of them.
func (w *workload) option(key, v string) (bool, error) {
	bad := func(want string) error { return fmt.Errorf("dataset: %s=%s: want %s", key, v, want) }
	var err error
	switch key {
	case "prefixes":
		if w.prefixes, err = strconv.Atoi(v); err != nil || w.prefixes < 1 || w.prefixes > 1<<16 {
			return true, bad("a count of system prompts from 1 to 65536")
		}
	case "prefix":
		if w.prefix, err = strconv.Atoi(v); err != nil || w.prefix < 1 || w.prefix > maxSynthetic {
			return true, bad("the tokens of each system prompt")
		}
	case "share":
		if w.share, err = strconv.ParseFloat(v, 64); err != nil || !(w.share >= 0 && w.share <= 1) {
			return true, bad("the fraction of requests that carry a system prompt, 0 to 1")
		}
	case "think":
		if w.think, err = time.ParseDuration(v); err != nil || w.think < 0 {
			return true, bad("a think time between turns, like 2s")
		}
	default:
		return false, nil
	}
	return true, nil
}

// init checks the parameters together and seeds the workload.
func (w *workload) init(seed uint64, given map[string]bool) error {
	if (given["prefixes"] || given["share"]) && !given["prefix"] {
		return fmt.Errorf("dataset: prefixes and share need prefix=TOKENS, the length of each system prompt")
	}
	if w.prefix > 0 {
		w.prefixes = max(w.prefixes, 1)
		if !given["share"] {
			w.share = 1
		}
	}
	if given["think"] && w.turns == nil && !w.replay {
		return fmt.Errorf("dataset: think is the pause between the turns of a conversation; give turns too")
	}
	w.seed = seed
	w.SetScale(Unscaled)
	return nil
}

// SetScale sizes the system prompts, and with them every prompt after.
func (w *workload) SetScale(s Scale) {
	w.scale = s
	rng := rand.New(rand.NewPCG(w.seed, 0x70726566)) // "pref": the same prompts for a seed and scale
	w.system = w.system[:0]
	for range w.prefixes {
		var b strings.Builder
		writeWords(&b, max(1, int(float64(w.prefix)/s.PerPiece+0.5)), rng)
		w.system = append(w.system, b.String())
	}
}

// Conversational reports whether the workload is of conversations.
func (w *workload) Conversational() (bool, time.Duration) {
	return w.turns != nil || w.replay, w.think
}

// pick draws a request's system prompt: one of the shared ones for a
// share of the requests, "" for the rest.
func (w *workload) pick(rng *rand.Rand) string {
	if len(w.system) > 0 && rng.Float64() < w.share {
		return w.system[rng.IntN(len(w.system))]
	}
	return ""
}

// userPieces is how many pieces the user's message of a first turn has, so
// that with system before it the request counts asked tokens on the
// server: asked counts the system prompt's prefix tokens too. The count
// is rounded at random, up with the chance of its fraction, so that the
// mean length is as asked however short the prompts.
func (w *workload) userPieces(asked int, system string, rng *rand.Rand) int {
	x := (float64(asked) - w.scale.Overhead) / w.scale.PerPiece
	if system != "" {
		x -= float64(Pieces(system))
	}
	n := int(math.Floor(x))
	if rng.Float64() < x-float64(n) {
		n++
	}
	return max(1, n)
}

// converse makes p, once complete, the first turn of a conversation when
// the workload is of conversations. next draws the later turns with the
// conversation's own random numbers, from the goroutine that answered the
// turn before; turns is the count drawn for it (synthetic).
func (w *workload) converse(p *Payload, rng *rand.Rand, next func(rng *rand.Rand, turns, turn int) (string, int, bool)) {
	if w.turns == nil && !w.replay {
		return
	}
	w.convs++
	turns := 0
	if w.turns != nil {
		turns = w.turns.draw(rng, Unscaled, false)
	}
	own := rand.New(rand.NewPCG(w.seed, uint64(w.convs)))
	c := &Conversation{ID: w.convs, Think: w.think,
		next: func(turn int) (string, int, bool) { return next(own, turns, turn) }}
	p.Conv = c
	c.last = *p
}
