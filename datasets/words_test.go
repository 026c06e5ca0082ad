package datasets

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tiktoken-go/tokenizer"
)

// The words of synthetic prompts are single tokens in the vocabularies
// they were chosen from, so a prompt of n words is n tokens there.
func TestWordsAreSingleTokens(t *testing.T) {
	if len(words) != 1024 {
		t.Fatalf("%d words, want 1024", len(words))
	}
	for _, enc := range []tokenizer.Encoding{tokenizer.Cl100kBase, tokenizer.O200kBase} {
		codec, err := tokenizer.Get(enc)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range words {
			if ids, _, _ := codec.Encode(" " + w); len(ids) != 1 {
				t.Errorf("%s: %q is %d tokens", enc, " "+w, len(ids))
			}
		}
		s, _ := Synthetic("input=1000,output=1", 3)
		p, _ := s.Next()
		if ids, _, _ := codec.Encode(p.Prompt); len(ids) != 1000 {
			t.Errorf("%s: a prompt of 1000 words is %d tokens", enc, len(ids))
		}
	}
}

func TestPieces(t *testing.T) {
	for _, tc := range []struct {
		text string
		want int
	}{
		{"", 0},
		{" the house of water", 4},
		{"Hello, world!", 4},               // Hello , ␣world !
		{"It's 2026.", 6},                  // It 's ␣ 202 6 .
		{"a\n\nb", 3},                      // a \n\n b
		{"   spaced", 2},                   // "  " then " spaced"
		{"x" + strings.Repeat("y", 32), 3}, // a run of 33 letters
		{"naïve café", 2},
	} {
		if got := Pieces(tc.text); got != tc.want {
			t.Errorf("Pieces(%q) = %d, want %d", tc.text, got, tc.want)
		}
	}
}

func TestFitScale(t *testing.T) {
	// A chat template of 7 tokens and 1.3 tokens a piece.
	x := []float64{16, 64, 256, 1024}
	y := make([]float64, len(x))
	for i := range x {
		y[i] = 7 + 1.3*x[i]
	}
	s, err := FitScale(x, y)
	if err != nil || math.Abs(s.Overhead-7) > 1e-9 || math.Abs(s.PerPiece-1.3) > 1e-9 {
		t.Errorf("FitScale = %+v, %v; want 7 + 1.3 a piece", s, err)
	}
	if got := s.Tokens(100); got != 137 {
		t.Errorf("Tokens(100) = %d, want 137", got)
	}
	// One size fits a line through zero.
	if s, err := FitScale([]float64{10, 10}, []float64{12, 12}); err != nil || s.Overhead != 0 || s.PerPiece != 1.2 {
		t.Errorf("one size: %+v, %v", s, err)
	}
	for _, bad := range [][2][]float64{{nil, nil}, {{1, 2}, {5, 5}}, {{1, 2}, {9, 3}}, {{0, 0}, {3, 3}}} {
		if s, err := FitScale(bad[0], bad[1]); err == nil {
			t.Errorf("FitScale(%v, %v) = %+v, want an error", bad[0], bad[1], s)
		}
	}
}

// Once given the server's scale, a synthetic prompt asks for its tokens
// in the server's count: its words are fewer by the template and the
// tokens a word costs.
func TestSyntheticScaled(t *testing.T) {
	s, err := Synthetic("input=1000,output=8", 1)
	if err != nil {
		t.Fatal(err)
	}
	s.SetScale(Scale{Overhead: 7, PerPiece: 1.25})
	// (1000 − 7) / 1.25 = 794.4 words: 794 or 795, 795 four times in ten.
	more := 0
	for _, p := range drain(t, s, 1000) {
		n := Pieces(p.Prompt)
		if p.Asked != 1000 || (n != 794 && n != 795) {
			t.Fatalf("asked %d with %d words, want 1000 with 794 or 795", p.Asked, n)
		}
		if n == 795 {
			more++
		}
	}
	if more < 340 || more > 460 {
		t.Errorf("%d of 1000 prompts of 795 words, want about 400", more)
	}
}

func TestLengthDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(spec string) []int {
		t.Helper()
		l, err := parseLengths("input", spec, true)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]int, 20000)
		for i := range out {
			out[i] = l.draw(rng, Unscaled, true)
		}
		return out
	}
	stats := func(xs []int) (mean, median float64, lo, hi int) {
		s := slices.Clone(xs)
		slices.Sort(s)
		for _, x := range s {
			mean += float64(x) / float64(len(s))
		}
		return mean, float64(s[len(s)/2]), s[0], s[len(s)-1]
	}
	for _, tc := range []struct {
		spec            string
		mean, tol       float64
		lo, hi          int
		medianBelowMean bool
	}{
		{"300", 300, 1e-6, 300, 300, false},
		{"100-200", 150, 2, 100, 200, false},
		{"normal(500,100)", 500, 5, 1, 1000, false},
		// Truncation to a range symmetric about the mean keeps the mean.
		{"normal(500,100,400-600)", 500, 5, 400, 600, false},
		// A lognormal of mean 200 and sd 150 is skewed: its median is
		// below its mean.
		{"lognormal(200,150)", 200, 8, 1, 950, true},
	} {
		mean, median, lo, hi := stats(draw(tc.spec))
		if math.Abs(mean-tc.mean) > tc.tol || lo < tc.lo || hi > tc.hi || (median < mean-5) != tc.medianBelowMean {
			t.Errorf("%s: mean %.1f median %.0f in %d-%d; want mean %v±%v within %d-%d", tc.spec, mean, median, lo, hi, tc.mean, tc.tol, tc.lo, tc.hi)
		}
	}

	// The empirical lengths are those of the file's prompts and replies.
	path := writeFile(t, "s.json", `[
		{"conversations": [{"from": "human", "value": "one two three"}, {"from": "gpt", "value": "`+strings.Repeat("abcd", 20)+`"}]},
		{"conversations": [{"from": "human", "value": "one two three four five six seven"}, {"from": "gpt", "value": "`+strings.Repeat("abcd", 9)+`"}]}]`)
	in, out := map[int]bool{}, map[int]bool{}
	for _, x := range draw("sharegpt(" + path + ")") {
		in[x] = true
	}
	l, err := parseLengths("output", "sharegpt("+path+")", false)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		out[l.draw(rng, Unscaled, false)] = true
	}
	if len(in) != 2 || !in[3] || !in[7] || len(out) != 2 || !out[20] || !out[9] {
		t.Errorf("sharegpt lengths: prompts %v, replies %v; want 3 and 7 pieces, 20 and 9 tokens", in, out)
	}
	for _, bad := range []string{"normal(0,5)", "normal(5)", "lognormal(100,-1)", "normal(100,10,500-600)", "gamma(3,4)", "normal(3,4", "sharegpt(/no/such/file)"} {
		if _, err := parseLengths("input", bad, true); err == nil {
			t.Errorf("parseLengths(%q) gave no error", bad)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func TestSharedPrefixes(t *testing.T) {
	s, err := Synthetic("input=50,output=4,prefix=100,prefixes=3,share=0.5", 7)
	if err != nil {
		t.Fatal(err)
	}
	systems := map[string]int{}
	with := 0
	for _, p := range drain(t, s, 2000) {
		if p.System == "" {
			if p.Asked != 50 || Pieces(p.Prompt) != 50 {
				t.Fatalf("without a prefix: asked %d, %d words", p.Asked, Pieces(p.Prompt))
			}
			continue
		}
		with++
		systems[p.System]++
		if p.Asked != 150 || Pieces(p.System) != 100 || Pieces(p.Prompt) != 50 {
			t.Fatalf("with a prefix: asked %d, system %d words, user %d", p.Asked, Pieces(p.System), Pieces(p.Prompt))
		}
	}
	if len(systems) != 3 || with < 900 || with > 1100 {
		t.Errorf("%d of 2000 with one of %d system prompts; want about half, and 3", with, len(systems))
	}
	for _, bad := range []string{"input=1,output=1,prefixes=2", "input=1,output=1,prefix=0", "input=1,output=1,prefix=5,share=2", "input=1,output=1,think=1s"} {
		if _, err := Synthetic(bad, 1); err == nil {
			t.Errorf("Synthetic(%q) gave no error", bad)
		}
	}
}

// A conversation's turns carry the history so far, with the answers
// actually received, and end after their drawn count.
func TestConversations(t *testing.T) {
	s, err := Synthetic("input=20,output=5,turns=3,think=1500ms,prefix=10", 4)
	if err != nil {
		t.Fatal(err)
	}
	if conv, think := s.Conversational(); !conv || think.Milliseconds() != 1500 {
		t.Fatalf("Conversational() = %v, %v", conv, think)
	}
	first := drain(t, s, 2)
	if first[0].Conv == nil || first[0].Conv.ID != 1 || first[1].Conv.ID != 2 || first[0].Turn != 0 {
		t.Fatalf("first turns %+v", first)
	}
	c := first[0].Conv
	c.Received("an answer ")
	c.Received("in two parts")
	second, ok := c.Next()
	if !ok || second.Turn != 1 || second.Conv != c || second.System != first[0].System || second.Asked != 0 || second.MaxTokens != 5 {
		t.Fatalf("second turn %+v, %v", second, ok)
	}
	want := []Message{{"user", first[0].Prompt}, {"assistant", "an answer in two parts"}}
	if !slices.Equal(second.History, want) || Pieces(second.Prompt) != 20 || second.Prompt == first[0].Prompt {
		t.Fatalf("second turn's history %+v, prompt %q", second.History, second.Prompt)
	}
	c.Received("again")
	third, ok := c.Next()
	if !ok || third.Turn != 2 || len(third.History) != 4 || third.History[3].Content != "again" || !slices.Equal(third.History[:2], want) {
		t.Fatalf("third turn %+v", third)
	}
	if _, ok := c.Next(); ok {
		t.Error("a conversation of 3 turns gave a fourth")
	}

	// ShareGPT conversations are replayed turn by turn.
	path := writeFile(t, "c.json", `[{"conversations": [
		{"from": "human", "value": "first question here"}, {"from": "gpt", "value": "the first answer given"},
		{"from": "human", "value": "second question"}, {"from": "gpt", "value": "a second answer, longer"}]}]`)
	src, _, err := Open("sharegpt:"+path+",turns=all,think=2s", 1)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := src.Next()
	p.Conv.Received("what the server said")
	q, ok := p.Conv.Next()
	if !ok || q.Prompt != "second question" || q.MaxTokens != Tokens("a second answer, longer") || q.History[1].Content != "what the server said" {
		t.Fatalf("replayed second turn %+v", q)
	}
	if _, ok := q.Conv.Next(); ok {
		t.Error("a replay of 2 turns gave a third")
	}
}

// Calibration prompts span the sizes the run sends, and leave the run's
// own prompts as they were.
func TestCalibration(t *testing.T) {
	a, _ := Synthetic("input=100-300,output=4", 5)
	b, _ := Synthetic("input=100-300,output=4", 5)
	cal := a.Calibration(6)
	sizes := map[int]bool{}
	for _, p := range cal {
		sizes[p.Asked] = true
	}
	if len(sizes) != 3 || !sizes[100] || !sizes[200] || !sizes[300] {
		t.Errorf("calibration sizes %v, want 100, 200 and 300", sizes)
	}
	pa, pb := drain(t, a, 3), drain(t, b, 3)
	for i := range pa {
		if pa[i].Prompt != pb[i].Prompt {
			t.Fatal("calibrating changed the run's prompts")
		}
	}
}
