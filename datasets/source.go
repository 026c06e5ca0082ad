package datasets

import (
	"strings"
	"time"
)

// Payload is what one request carries.
type Payload struct {
	// Index is the payload's row in its dataset, recorded with the request
	// so a slow or failing request can be traced to its input.
	Index int64
	// Body is the request body; nil for none. Callers must not modify it.
	Body []byte
	// Prompt is the text an LLM request sends when Body is nil: the user's
	// message, after System and History.
	Prompt string
	// System is a system prompt sent first (a shared prefix); "" for none.
	System string
	// History is a conversation's earlier turns: user messages and the
	// answers the assistant actually gave. Callers must not modify it.
	History []Message
	// MaxTokens is an LLM request's output budget; 0 leaves it to the
	// client.
	MaxTokens int
	// Asked is the prompt's length in the server's tokens as its source
	// sized it (Scale), 0 when unknown (a body, a later turn).
	Asked int
	// Conv is the conversation the request is a turn of, nil for a single
	// request; Turn counts its turns from 0.
	Conv *Conversation
	Turn int
}

// Message is one message of a chat: its role ("system", "user",
// "assistant") and text.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Messages are the chat messages the payload's prompt sends: the system
// prompt, the history, the user's message.
func (p Payload) Messages() []Message {
	msgs := make([]Message, 0, len(p.History)+2)
	if p.System != "" {
		msgs = append(msgs, Message{"system", p.System})
	}
	msgs = append(msgs, p.History...)
	return append(msgs, Message{"user", p.Prompt})
}

// Text is the prompt as one text, for a completion: its messages' texts
// one after another.
func (p Payload) Text() string {
	var b strings.Builder
	for _, m := range p.Messages() {
		b.WriteString(m.Content)
	}
	return b.String()
}

// Pieces counts the pieces of everything the payload's prompt sends.
func (p Payload) Pieces() int {
	n := 0
	for _, m := range p.Messages() {
		n += Pieces(m.Content)
	}
	return n
}

// A Source yields the payload of each request in order. Next reports false
// once the source is exhausted. Sources are called from one goroutine (the
// engine's scheduler) and need not be safe for concurrent use; sampling is
// deterministic for a given seed.
type Source interface {
	Next() (Payload, bool)
}

// A Sized source builds its prompts to lengths in the server's tokens,
// by a Scale that calibration fits before the run.
type Sized interface {
	Source
	// Calibration returns n payloads of the shapes and sizes the run will
	// send, for the server to count; it does not change what Next yields.
	Calibration(n int) []Payload
	// SetScale sizes every prompt Next yields from then on; it is called
	// before the first Next, or never (Unscaled).
	SetScale(s Scale)
	// Conversational reports whether the source yields conversations,
	// with the think time between their turns.
	Conversational() (bool, time.Duration)
}

// Repeat returns a source that yields the same body for every request,
// without end.
func Repeat(body []byte) Source { return repeat{body: body} }

type repeat struct{ body []byte }

func (r repeat) Next() (Payload, bool) { return Payload{Body: r.body}, true }

var _ Source = repeat{}
