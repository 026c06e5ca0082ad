package datasets

import (
	"reflect"
	"strings"
	"testing"
)

func TestSyntheticExact(t *testing.T) {
	s, err := Synthetic("input=1024,output=128", 1)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, w := range words {
		known[w] = true
	}
	prompts := map[string]bool{}
	for i, p := range drain(t, s, 50) {
		if n := Pieces(p.Prompt); n != 1024 || p.Asked != 1024 || p.MaxTokens != 128 || p.Index != int64(i) || p.Body != nil || p.Conv != nil {
			t.Fatalf("payload %d: %d pieces, asked %d, budget %d, index %d", i, n, p.Asked, p.MaxTokens, p.Index)
		}
		if !strings.HasPrefix(p.Prompt, " ") {
			t.Fatalf("payload %d does not start with a space: %.20q", i, p.Prompt)
		}
		for _, w := range strings.Fields(p.Prompt) {
			if !known[w] {
				t.Fatalf("word %q in payload %d is not of the list", w, i)
			}
		}
		prompts[p.Prompt] = true
	}
	if len(prompts) != 50 {
		t.Errorf("%d distinct prompts of 50", len(prompts))
	}
}

func TestSyntheticRanges(t *testing.T) {
	s, err := Synthetic(" input = 1-4 , output=64-66", 2)
	if err != nil {
		t.Fatal(err)
	}
	in, out := map[int]int{}, map[int]int{}
	for _, p := range drain(t, s, 1000) {
		in[Pieces(p.Prompt)]++
		out[p.MaxTokens]++
	}
	if len(in) != 4 || in[1] == 0 || in[4] == 0 {
		t.Errorf("input counts %v, want each of 1 to 4", in)
	}
	if len(out) != 3 || out[64] == 0 || out[66] == 0 {
		t.Errorf("output counts %v, want each of 64 to 66", out)
	}
}

func TestSyntheticSeeded(t *testing.T) {
	x, _ := Synthetic("output=3,input=8-16", 9)
	y, _ := Synthetic("input=8-16,output=3", 9)
	z, _ := Synthetic("input=8-16,output=3", 10)
	px, py, pz := drain(t, x, 20), drain(t, y, 20), drain(t, z, 20)
	if !reflect.DeepEqual(px, py) {
		t.Error("same parameters and seed, different prompts")
	}
	if reflect.DeepEqual(px, pz) {
		t.Error("seeds 9 and 10 gave the same prompts")
	}
}

func TestSyntheticErrors(t *testing.T) {
	for _, tc := range []struct{ params, want string }{
		{"", `synthetic wants input=N,output=M, got ""`},
		{"input", `synthetic wants input=N,output=M, got "input"`},
		{"input=10", "needs both input and output"},
		{"output=10", "needs both input and output"},
		{"input=1,output=1,context=3", `synthetic has no parameter "context"`},
		{"input=1,input=2,output=3", "synthetic input is given twice"},
		{"input=0,output=1", `synthetic input="0" must be positive`},
		{"input=5,output=-1", `synthetic output="-1" is not a count`},
		{"input=0-5,output=1", `synthetic input="0-5" must be positive`},
		{"input=20-10,output=1", `synthetic input="20-10" must go from low to high`},
		{"input=ten,output=1", `synthetic input="ten" is not a count or a range like 128-512`},
		{"input=1-2-3,output=1", `synthetic input="1-2-3" is not a count`},
		{"input=1-,output=1", `synthetic input="1-" is not a count`},
		{"input=1,output=3000000", `synthetic output="3000000" is over the limit of 2097152 tokens`},
	} {
		if _, err := Synthetic(tc.params, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Synthetic(%q) = %v\nwant %q", tc.params, err, tc.want)
		}
	}
}

func FuzzSyntheticParams(f *testing.F) {
	f.Add("input=1024,output=128")
	f.Add("input=1-3,output=2-2")
	f.Add("output= 7 ,input=9-9")
	f.Add("input=0,output=1,x=2")
	f.Add("input=normal(64,16),output=lognormal(20,30,1-200),prefix=32,prefixes=3,share=0.5")
	f.Add("input=5,output=5,turns=2-4,think=1s")
	f.Fuzz(func(t *testing.T, params string) {
		s, err := Synthetic(params, 1)
		if err != nil {
			return
		}
		for i, p := range drain(t, s, 3) {
			// Unscaled, a piece is a token: the request counts what it asked.
			n := Pieces(p.System) + Pieces(p.Prompt)
			if n < 1 || p.Asked < 1 || (n != p.Asked && Pieces(p.Prompt) != 1) || p.MaxTokens < 1 || p.Index != int64(i) {
				t.Fatalf("%q gave %d pieces for %d tokens asked, budget %d", params, n, p.Asked, p.MaxTokens)
			}
		}
	})
}
