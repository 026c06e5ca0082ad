package probetest

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitBPE(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		// Nothing, no tokens.
		{"", nil},
		// A short common word with its space is one token, as in cl100k.
		{" the", []string{" the"}},
		// Four letters a token, the space going with the first.
		{" house", []string{" hous", "e"}},
		{" information", []string{" info", "rmat", "ion"}},
		// The first word has no space; 4 words, 18 bytes, 6 tokens.
		{"the house of water", []string{"the", " hous", "e", " of", " wate", "r"}},
		// Three digits a token; a space before digits is its own.
		{"12345", []string{"123", "45"}},
		{" 42", []string{" ", "42"}},
		// Each punctuation mark is a token.
		{"Hello, world!", []string{"Hell", "o", ",", " worl", "d", "!"}},
		// A run of spaces leaves its last to the word after it ...
		{"a  b", []string{"a", " ", " b"}},
		{"  x", []string{" ", " x"}},
		{"x\t y", []string{"x", "\t", " y"}},
		// ... but is whole before anything else or at the end.
		{"line\n\nnext", []string{"line", "\n\n", "next"}},
		{"end  ", []string{"end", "  "}},
		// Letters are Unicode letters, counted as characters.
		{"café olé", []string{"café", " olé"}},
	} {
		var got []string
		splitBPE(tc.text, func(tok string) { got = append(got, tok) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("splitBPE(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// The bpe rule must not be a word count in disguise, nor the bytes rule,
// or a client's calibration of words to tokens would go untested.
func TestBPEIsNeitherWordsNorBytes(t *testing.T) {
	text := "the quick brown fox jumps over the lazy dog near the river bank"
	in := &input{text: text}
	words, bytes, bpe := len(strings.Fields(text)), in.count(rule(TokensBytes)), in.count(rule(TokensBPE))
	// 13 words; 63 bytes are 16 tokens; quick, brown, jumps and river
	// take 2 tokens each, so bpe gives 17.
	if words != 13 || bytes != 16 || bpe != 17 {
		t.Errorf("%d words, %d bytes tokens, %d bpe tokens; want 13, 16, 17", words, bytes, bpe)
	}
}

func TestChatTemplateOverhead(t *testing.T) {
	msgs := []message{{"system", "You are terse."}, {"", "the house of water"}}
	for _, tc := range []struct {
		rule       string
		in         input
		want       int
		why        string
		wantTokens []string
	}{
		{TokensBPE, input{chat: true, messages: msgs, generation: true}, 22,
			"5 + 6 content tokens, 4 per message, 3 for the generation prompt",
			[]string{msgStart, "system", "\n", "You", " are", " ters", "e", ".", msgEnd,
				msgStart, "user", "\n", "the", " hous", "e", " of", " wate", "r", msgEnd, msgStart, "assistant", "\n"}},
		{TokensBPE, input{chat: true, messages: msgs}, 19, "without the generation prompt", nil},
		{TokensBPE, input{text: "the house of water"}, 6, "a completion pays no template", nil},
		{TokensBytes, input{chat: true, messages: msgs, text: "You are terse.the house of water", generation: true}, 8,
			"32 bytes of contents joined, no template", nil},
	} {
		if got := tc.in.count(rule(tc.rule)); got != tc.want {
			t.Errorf("%s: %d tokens, want %d: %s", tc.rule, got, tc.want, tc.why)
		}
		if tc.wantTokens != nil {
			var got []string
			split, tmpl := rule(tc.rule)
			tc.in.tokenize(split, tmpl, "", func(tok string) { got = append(got, tok) })
			if !slices.Equal(got, tc.wantTokens) {
				t.Errorf("%s tokens %q, want %q", tc.rule, got, tc.wantTokens)
			}
		}
	}
}

// A sequence's prefix-cache blocks cover its prompt and then exactly one
// token per generated token, and the next turn of a conversation, which
// sends the answer back as an assistant message, begins with them.
func TestAnswerTokensRepeatInTheNextTurn(t *testing.T) {
	answer := strings.Repeat(tokenText, 5)
	inputs := []*input{{chat: true, messages: []message{{"user", "no generation prompt"}}}}
	for _, prompt := range []string{"the house", "ends in a space ", "two\n\n", "digits 123", "odd!"} {
		inputs = append(inputs, &input{text: prompt})
	}
	for _, name := range []string{TokensBytes, TokensBPE} {
		split, tmpl := rule(name)
		for _, in := range inputs {
			if got, want := len(in.ids(split, tmpl, answer)), in.count(split, tmpl)+5; got != want {
				t.Errorf("%s %+v: %d tokens with the answer, want %d", name, in, got, want)
			}
		}
	}
	turn1 := &input{chat: true, generation: true, messages: []message{{"system", "Be brief."}, {"user", "Name a colour, 42 times!"}}}
	turn2 := &input{chat: true, generation: true, messages: append(slices.Clone(turn1.messages),
		message{"assistant", answer}, message{"user", "Another one."})}
	seq, next := turn1.ids(splitBPE, true, answer), turn2.ids(splitBPE, true, "")
	if len(seq) != turn1.count(splitBPE, true)+5 || !slices.Equal(next[:len(seq)], seq) {
		t.Errorf("turn 2 %v does not begin with turn 1 and its answer %v", next, seq)
	}
}

// rule is the splitter of the rule named.
func rule(name string) (Splitter, bool) { return splitterOf(LLMConfig{Tokens: name}) }
