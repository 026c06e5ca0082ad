package datasets

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	for s, want := range map[string]int{"": 0, "a": 1, "abcd": 1, "abcde": 2, strings.Repeat("x", 400): 100} {
		if got := Tokens(s); got != want {
			t.Errorf("Tokens(%q) = %d, want %d", s, got, want)
		}
	}
}

func drain(s Source, n int) []Payload {
	out := make([]Payload, n)
	for i := range out {
		out[i], _ = s.Next()
	}
	return out
}

func TestShareGPTFiltersAndReportsLines(t *testing.T) {
	s, rep, err := ShareGPT("testdata/sharegpt.json", ShareGPTOptions{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []Skipped{
		{"sharegpt.json", 6, "no prompt"},
		{"sharegpt.json", 9, "too short"},
		{"sharegpt.json", 13, "no reply"},
		{"sharegpt.json", 16, "not an object"},
	}
	if rep.Loaded != 2 || !reflect.DeepEqual(rep.Skipped, want) {
		t.Errorf("loaded %d, skipped %+v\nwant 2 and %+v", rep.Loaded, rep.Skipped, want)
	}
	if got := rep.String(); !strings.Contains(got, "2 entries, 4 skipped") || !strings.Contains(got, "first at sharegpt.json:6") {
		t.Errorf("report %q", got)
	}
	seen := map[int64]Payload{}
	for _, p := range drain(s, 6) {
		seen[p.Index] = p
	}
	first, last := seen[0], seen[5]
	if len(seen) != 2 || !strings.HasPrefix(first.Prompt, "What is the capital") || first.MaxTokens != Tokens("Paris is the capital of France. It is famous for the Eiffel Tower, the Louvre and its cafes.") {
		t.Errorf("payloads %+v", seen)
	}
	if !strings.HasPrefix(last.Prompt, "Summarise") || last.MaxTokens < 4 {
		t.Errorf("role/content entry %+v", last)
	}
	// Tighter bounds leave nothing: an error that says so.
	if _, _, err := ShareGPT("testdata/sharegpt.json", ShareGPTOptions{MaxPrompt: 5}, 1); err == nil || !strings.Contains(err.Error(), "no usable entries") {
		t.Errorf("all filtered: %v", err)
	}
}

func TestShareGPTBrokenFilesSayWhere(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ body, want string }{
		"object":    {`{"conversations": []}`, "a.json:1:2: a ShareGPT file is a JSON array"},
		"truncated": {"[\n  {\"conversations\": [\n", "a.json:3:1: unexpected EOF"},
		"empty":     {``, "a.json:1:1"},
	} {
		path := filepath.Join(dir, "a.json")
		if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ShareGPT(path, ShareGPTOptions{}, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestJSONL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bodies.jsonl")
	data := "{\"prompt\": \"a\"}\n\n[1,2]\n{\"messages\": []}\r\nnot json\n{\"prompt\": \"last\"}"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	s, rep, err := JSONL(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []Skipped{{"bodies.jsonl", 3, "not a JSON object"}, {"bodies.jsonl", 5, "not a JSON object"}}
	if rep.Loaded != 3 || !reflect.DeepEqual(rep.Skipped, want) {
		t.Errorf("loaded %d skipped %+v", rep.Loaded, rep.Skipped)
	}
	bodies := map[int64]string{}
	for _, p := range drain(s, 3) {
		bodies[p.Index] = string(p.Body)
	}
	if !reflect.DeepEqual(bodies, map[int64]string{0: `{"prompt": "a"}`, 3: `{"messages": []}`, 5: `{"prompt": "last"}`}) {
		t.Errorf("one pass gave %v", bodies)
	}
}

func TestSeededOrder(t *testing.T) {
	a, _, _ := Open("testdata/sharegpt.json", 7)
	b, _, _ := Open("sharegpt:testdata/sharegpt.json", 7)
	if !reflect.DeepEqual(drain(a, 10), drain(b, 10)) {
		t.Error("the same seed gave two orders")
	}
}

func TestSynthetic(t *testing.T) {
	s, err := Synthetic("input=100-120,output=5", 1)
	if err != nil {
		t.Fatal(err)
	}
	prompts := map[string]bool{}
	for i, p := range drain(s, 200) {
		if n := Tokens(p.Prompt); n < 100 || n > 120 || p.MaxTokens != 5 || p.Index != int64(i) {
			t.Fatalf("payload %d: %d prompt tokens, budget %d", i, n, p.MaxTokens)
		}
		prompts[p.Prompt] = true
	}
	if len(prompts) != 200 {
		t.Errorf("%d distinct prompts of 200", len(prompts))
	}
	x, _ := Synthetic("output=3,input=8", 9)
	y, _, _ := Open("synthetic:input=8,output=3", 9)
	if !reflect.DeepEqual(drain(x, 5), drain(y, 5)) {
		t.Error("same parameters and seed, different prompts")
	}
	for params, want := range map[string]string{
		"input=10":                   "needs both",
		"input=10,output=0":          "must be positive",
		"input=20-10,output=1":       "low to high",
		"input=ten,output=1":         "not a count",
		"input=1,output=1,context=3": `no parameter "context"`,
		"input":                      "wants input=N",
	} {
		if _, err := Synthetic(params, 0); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Synthetic(%q) = %v, want %q", params, err, want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"data.csv":            "is not synthetic",
		"missing.json":        "no such file",
		"jsonl:missing.jsonl": "no such file",
	} {
		if _, _, err := Open(spec, 0); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want %q", spec, err, want)
		}
	}
}

func FuzzShareGPT(f *testing.F) {
	seed, _ := os.ReadFile("testdata/sharegpt.json")
	f.Add(seed)
	f.Add([]byte(`[{"conversations":[{"from":"human","value":"0123456789abcdef"},{"from":"gpt","value":"0123456789abcdef"}]}]`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, rep, err := ShareGPT(path, ShareGPTOptions{}, 1)
		if err != nil {
			return
		}
		for _, p := range drain(s, 2*rep.Loaded) {
			if p.Prompt == "" || p.MaxTokens < 4 {
				t.Fatalf("payload %+v from a loaded entry", p)
			}
		}
	})
}

func FuzzJSONL(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n\n{\"b\":2}\n"))
	f.Add([]byte("[]\nx\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, rep, err := JSONL(path, 1)
		if err != nil {
			return
		}
		for _, p := range drain(s, rep.Loaded) {
			if len(p.Body) == 0 || p.Body[0] != '{' {
				t.Fatalf("body %q", p.Body)
			}
		}
	})
}

func FuzzSyntheticParams(f *testing.F) {
	f.Add("input=1024,output=128")
	f.Add("input=1-3,output=2-2")
	f.Fuzz(func(t *testing.T, params string) {
		s, err := Synthetic(params, 1)
		if err != nil {
			return
		}
		for _, p := range drain(s, 3) {
			if Tokens(p.Prompt) < 1 || p.MaxTokens < 1 {
				t.Fatalf("%q gave %+v", params, p)
			}
		}
	})
}
