package datasets

// Payload is what one request carries.
type Payload struct {
	// Index is the payload's row in its dataset, recorded with the request
	// so a slow or failing request can be traced to its input.
	Index int64
	// Body is the request body; nil for none. Callers must not modify it.
	Body []byte
	// Prompt is the text an LLM request sends when Body is nil.
	Prompt string
	// MaxTokens is an LLM request's output budget; 0 leaves it to the
	// client.
	MaxTokens int
}

// A Source yields the payload of each request in order. Next reports false
// once the source is exhausted. Sources are called from one goroutine (the
// engine's scheduler) and need not be safe for concurrent use; sampling is
// deterministic for a given seed.
type Source interface {
	Next() (Payload, bool)
}

// Repeat returns a source that yields the same body for every request,
// without end.
func Repeat(body []byte) Source { return repeat{body: body} }

type repeat struct{ body []byte }

func (r repeat) Next() (Payload, bool) { return Payload{Body: r.body}, true }

var _ Source = repeat{}
