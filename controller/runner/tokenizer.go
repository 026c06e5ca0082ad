package runner

import (
	"fmt"

	"github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/pretrained"
)

// fileTokenizer counts tokens with a Hugging Face tokenizer.json.
type fileTokenizer struct{ tk *tokenizer.Tokenizer }

// loadTokenizer reads a tokenizer.json; an error names the flag and file.
func loadTokenizer(path string) (*fileTokenizer, error) {
	tk, err := pretrained.FromFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", errNoTokenizer, path, err)
	}
	return &fileTokenizer{tk}, nil
}

// count is how many tokens the text is, without special tokens: a
// chat's template is the server's, which a tokenizer file does not hold.
func (t *fileTokenizer) count(text string) int {
	enc, err := t.tk.EncodeSingle(text, false)
	if err != nil {
		return 0
	}
	return enc.Len()
}
