package probetest

import (
	"cmp"
	"unicode"
	"unicode/utf8"
)

// The rules LLMConfig.Tokens names for counting a prompt's tokens.
const (
	// TokensBytes counts a token per four bytes of text: the text is a
	// completion's prompt, or the contents of a chat's messages joined
	// with nothing between them and no template around them, and a token
	// is each four bytes of it (the last may be shorter), so n bytes are
	// (n+3)/4 tokens.
	TokensBytes = "bytes"
	// TokensBPE counts roughly as a byte-pair encoder such as cl100k
	// does, so that a client's calibration of words to tokens is
	// exercised. The text is cut into pieces, each
	//   - a run of letters (unicode.IsLetter) with the one space before
	//     it, if any: ceil(letters/4) tokens, the first holding the space
	//     and four letters, the others four letters each (the last maybe
	//     fewer), so " the" is 1 token, " house" 2 and " information" 3;
	//   - a run of digits (unicode.IsDigit): ceil(digits/3) tokens;
	//   - a run of white space (unicode.IsSpace), less its last space if a
	//     letter follows (that space begins the letters' piece): 1 token;
	//   - any other character (punctuation, a symbol, a byte that is not
	//     UTF-8): 1 token.
	// "the house of water" is thus 6 tokens, where it has 4 words and 18
	// bytes (5 tokens by TokensBytes).
	//
	// A completion's prompt is counted bare. A chat's messages are laid
	// out in a ChatML template: each message is "<|im_start|>", its role
	// ("user" if it names none), "\n", its content's tokens and
	// "<|im_end|>", 4 tokens beyond its content, and the prompt ends
	// with the assistant's generation prompt "<|im_start|>", "assistant",
	// "\n", 3 tokens (unless the request's add_generation_prompt is
	// false). A chat of one message with "the house of water" is thus
	// 6 + 4 + 3 = 13 tokens.
	TokensBPE = "bpe"
)

// ChatML's markers around a message under TokensBPE; each one token.
const (
	msgStart = "<|im_start|>"
	msgEnd   = "<|im_end|>"
)

// input is what a request asks the model to continue.
type input struct {
	chat     bool
	messages []message
	// text is a completion's prompt, or a chat's contents joined.
	text string
	// generation ends a chat with the assistant's generation prompt,
	// unless the request's add_generation_prompt is false.
	generation bool
}

type message struct{ role, content string }

// Splitter cuts a text into tokens, calling emit with each in turn.
type Splitter func(text string, emit func(tok string))

// splitterOf is how the replica counts: cfg's own Splitter, or the rule
// its Tokens names; template is set when chats pay ChatML's overhead
// (TokensBPE, or a Splitter of the caller's).
func splitterOf(cfg LLMConfig) (split Splitter, template bool) {
	switch {
	case cfg.Split != nil:
		return cfg.Split, true
	case cfg.Tokens == TokensBPE:
		return splitBPE, true
	}
	return splitBytes, false
}

// tokenize emits the input's tokens and then answer's (generated text,
// which for a chat comes after the generation prompt), as split counts
// them with, when template is set, a chat's ChatML markers.
func (in *input) tokenize(split Splitter, template bool, answer string, emit func(string)) {
	switch {
	case !template || !in.chat:
		split(in.text+answer, emit)
	default:
		for _, m := range in.messages {
			emit(msgStart)
			emit(cmp.Or(m.role, "user"))
			emit("\n")
			split(m.content, emit)
			emit(msgEnd)
		}
		if in.generation {
			emit(msgStart)
			emit("assistant")
			emit("\n")
		}
		split(answer, emit)
	}
}

// count is the input's prompt tokens.
func (in *input) count(split Splitter, template bool) int {
	n := 0
	in.tokenize(split, template, "", func(string) { n++ })
	return n
}

// ids are the ids of the input's tokens and answer's.
func (in *input) ids(split Splitter, template bool, answer string) []uint32 {
	ids := []uint32{}
	in.tokenize(split, template, answer, func(tok string) { ids = append(ids, tokenID(tok)) })
	return ids
}

// tokenID names a token by a hash of its text (32-bit FNV-1a): equal
// texts have equal ids, which is all the prefix cache and /tokenize need.
func tokenID(tok string) uint32 {
	h := uint32(2166136261)
	for i := range len(tok) {
		h ^= uint32(tok[i])
		h *= 16777619
	}
	return h
}

// splitBytes calls emit with each four bytes of text, the last maybe
// fewer (TokensBytes).
func splitBytes(text string, emit func(string)) {
	for len(text) > 4 {
		emit(text[:4])
		text = text[4:]
	}
	if text != "" {
		emit(text)
	}
}

// splitBPE calls emit with each token of text under TokensBPE.
func splitBPE(text string, emit func(string)) {
	letterAt := func(i int) bool {
		r, _ := utf8.DecodeRuneInString(text[i:])
		return unicode.IsLetter(r)
	}
	for i := 0; i < len(text); {
		r, w := utf8.DecodeRuneInString(text[i:])
		switch {
		case unicode.IsLetter(r):
			i = splitRun(text, i, 0, unicode.IsLetter, 4, emit)
		case r == ' ' && letterAt(i+1):
			i = splitRun(text, i, 1, unicode.IsLetter, 4, emit)
		case unicode.IsDigit(r):
			i = splitRun(text, i, 0, unicode.IsDigit, 3, emit)
		case unicode.IsSpace(r):
			j := i + w
			for j < len(text) {
				r, w := utf8.DecodeRuneInString(text[j:])
				if !unicode.IsSpace(r) {
					break
				}
				j += w
			}
			if j-i > 1 && text[j-1] == ' ' && letterAt(j) {
				j--
			}
			emit(text[i:j])
			i = j
		default:
			emit(text[i : i+w])
			i += w
		}
	}
}

// splitRun emits the run of characters of class in that starts at
// text[i+lead] in tokens of up to size characters, the lead bytes going
// with the first, and returns where the run ends.
func splitRun(text string, i, lead int, in func(rune) bool, size int, emit func(string)) int {
	start, n := i, 0
	for i += lead; i < len(text); {
		r, w := utf8.DecodeRuneInString(text[i:])
		if !in(r) {
			break
		}
		if n == size {
			emit(text[start:i])
			start, n = i, 0
		}
		n++
		i += w
	}
	emit(text[start:i])
	return i
}
