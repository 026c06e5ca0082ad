package datasets

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// drain returns the next n payloads of s.
func drain(t testing.TB, s Source, n int) []Payload {
	t.Helper()
	out := make([]Payload, n)
	for i := range out {
		var ok bool
		if out[i], ok = s.Next(); !ok {
			t.Fatalf("source ended after %d payloads", i)
		}
	}
	return out
}

// writeFile writes data to a file of that name in a temporary directory
// and returns its path.
func writeFile(t testing.TB, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"a", 1},
		{"abcd", 1},
		{"abcde", 2},
		{"abcdefgh", 2},
		{"é", 1},   // two bytes
		{"日本語", 3}, // nine bytes
		{strings.Repeat("x", 400), 100},
		{strings.Repeat("x", 401), 101},
	} {
		if got := Tokens(tc.s); got != tc.want {
			t.Errorf("Tokens(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
}

func TestReport(t *testing.T) {
	r := &Report{Name: "sharegpt data.json", Loaded: 980}
	if got, want := r.String(), "sharegpt data.json: 980 entries"; got != want {
		t.Errorf("no skips: %q, want %q", got, want)
	}
	for i := range 20 {
		reason := "too long"
		if i%5 == 1 || i%5 == 3 {
			reason = "no reply"
		}
		r.Skipped = append(r.Skipped, Skipped{File: "data.json", Line: 345 + 10*i, Reason: reason})
	}
	if got, want := r.String(), "sharegpt data.json: 980 entries, 20 skipped (too long: 12, no reply: 8; first at data.json:345)"; got != want {
		t.Errorf("String() = %q\nwant %q", got, want)
	}
	if got, want := r.Counts(), map[string]int{"too long": 12, "no reply": 8}; !reflect.DeepEqual(got, want) {
		t.Errorf("Counts() = %v, want %v", got, want)
	}
	// Equal counts are in the order of their names.
	r = &Report{Name: "jsonl x.jsonl", Loaded: 1, Skipped: []Skipped{{"x.jsonl", 3, "b"}, {"x.jsonl", 4, "a"}}}
	if got, want := r.String(), "jsonl x.jsonl: 1 entries, 2 skipped (a: 1, b: 1; first at x.jsonl:3)"; got != want {
		t.Errorf("ties: %q, want %q", got, want)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	share := filepath.Join(dir, "conv.JSON")
	lines := filepath.Join(dir, "bodies.jsonl")
	if err := os.WriteFile(share, []byte(`[{"conversations":[{"from":"human","value":"what time is it?"},{"from":"gpt","value":"about noon, I think"}]}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lines, []byte(`{"prompt":"hello"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	syn, err := Synthetic("input=2,output=3", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		spec, report string
		want         Payload
	}{
		{share, "sharegpt conv.JSON: 1 entries", Payload{Prompt: "what time is it?", MaxTokens: 5, Asked: 5}},
		{"sharegpt:" + share, "sharegpt conv.JSON: 1 entries", Payload{Prompt: "what time is it?", MaxTokens: 5, Asked: 5}},
		{lines, "jsonl bodies.jsonl: 1 entries", Payload{Body: []byte(`{"prompt":"hello"}`)}},
		{"jsonl:" + lines, "jsonl bodies.jsonl: 1 entries", Payload{Body: []byte(`{"prompt":"hello"}`)}},
		{"synthetic:input=2,output=3", "", drain(t, syn, 1)[0]},
	} {
		s, rep, err := Open(tc.spec, 1)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.spec, err)
			continue
		}
		if got := ""; rep != nil {
			if got = rep.String(); got != tc.report {
				t.Errorf("Open(%q) report %q, want %q", tc.spec, got, tc.report)
			}
		} else if tc.report != "" {
			t.Errorf("Open(%q) gave no report", tc.spec)
		}
		if p := drain(t, s, 1)[0]; !reflect.DeepEqual(p, tc.want) {
			t.Errorf("Open(%q) gave %+v, want %+v", tc.spec, p, tc.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"data.csv", `"data.csv" is not synthetic:input=N,output=M, sharegpt:FILE, jsonl:FILE or a .json/.jsonl file`},
		{"hf:some/dataset", "is not synthetic"},
		{"", "is not synthetic"},
		{"missing.json", "open missing.json: no such file"},
		{"sharegpt:missing.txt", "open missing.txt: no such file"},
		{"jsonl:missing.jsonl", "open missing.jsonl: no such file"},
		{"synthetic:input=8", "needs both input and output"},
	} {
		if _, _, err := Open(tc.spec, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want %q", tc.spec, err, tc.want)
		}
	}
}

func TestSeededOrder(t *testing.T) {
	const path = "testdata/sharegpt.json"
	a, rep, err := Open(path, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := Open("sharegpt:"+path, 7)
	c, _, _ := Open(path, 8)
	n := rep.Loaded
	pa, pb, pc := drain(t, a, 10*n), drain(t, b, 10*n), drain(t, c, 10*n)
	if !reflect.DeepEqual(pa, pb) {
		t.Error("the same seed gave two orders")
	}
	if reflect.DeepEqual(pa, pc) {
		t.Error("seeds 7 and 8 gave the same order")
	}
	// Every pass holds each entry once, in a new order.
	var orders [][]int64
	for pass := range 10 {
		var idx []int64
		for _, p := range pa[pass*n : (pass+1)*n] {
			idx = append(idx, p.Index)
		}
		orders = append(orders, slices.Clone(idx))
		slices.Sort(idx)
		if !slices.Equal(idx, []int64{0, 1, 5, 6}) {
			t.Fatalf("pass %d has entries %v", pass, idx)
		}
	}
	if slices.EqualFunc(orders[1:], orders[:len(orders)-1], slices.Equal) {
		t.Error("every pass in the same order")
	}
}
