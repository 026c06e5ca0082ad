package datasets

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestShareGPTCorpus(t *testing.T) {
	s, rep, err := ShareGPT("testdata/sharegpt.json", ShareGPTOptions{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []Skipped{
		{"sharegpt.json", 40, "no reply"},
		{"sharegpt.json", 53, "too short"},
		{"sharegpt.json", 66, "no prompt"},
		{"sharegpt.json", 96, "no reply"},
	}
	if rep.Loaded != 4 || !reflect.DeepEqual(rep.Skipped, want) {
		t.Errorf("loaded %d, skipped %+v\nwant 4 and %+v", rep.Loaded, rep.Skipped, want)
	}
	if got, want := rep.String(), "sharegpt sharegpt.json: 4 entries, 4 skipped (no reply: 2, no prompt: 1, too short: 1; first at sharegpt.json:40)"; got != want {
		t.Errorf("report %q\nwant %q", got, want)
	}
	got := map[int64]Payload{}
	for _, p := range drain(t, s, 4) {
		got[p.Index] = p
	}
	prompts := map[int64]string{
		0: "How do I reverse a list in Python without modifying the original?",
		1: "Plan a three-day trip to Kyoto in autumn. I like temples and food markets.",
		5: "Explique la différence entre « savoir » et « connaître » avec des exemples.",
		6: "Write a SQL query that returns the ten customers with the highest total order value.",
	}
	for i, prompt := range prompts {
		if p := got[i]; p.Prompt != prompt || p.MaxTokens < 4 || p.Body != nil {
			t.Errorf("entry %d: %+v, want prompt %q", i, p, prompt)
		}
	}
	// The reply that sets the budget is the one right after the prompt.
	if reply := "Use slicing, which returns a new list:\n\n```python\nitems = [1, 2, 3]\nreversed_items = items[::-1]\n```\n\nAlternatively, `list(reversed(items))` does the same. Both leave `items` unchanged."; got[0].MaxTokens != Tokens(reply) {
		t.Errorf("entry 0 budget %d, want %d", got[0].MaxTokens, Tokens(reply))
	}
}

func TestShareGPTEntries(t *testing.T) {
	const (
		// 20 bytes, 5 tokens.
		q = `{"from": "human", "value": "What is a load test?"}`
		a = `{"from": "gpt", "value": "A measured attack."}`
	)
	conv := func(turns ...string) string { return `{"conversations": [` + strings.Join(turns, ", ") + `]}` }
	text := func(n int) string { return strings.Repeat("x", 4*n) }
	for _, tc := range []struct {
		name, data string
		opt        ShareGPTOptions
		loaded     []Payload
		skipped    []Skipped
	}{
		{
			name:   "one line",
			data:   "[" + conv(q, a) + ", 7, " + conv(a) + "]",
			loaded: []Payload{{Index: 0, Prompt: "What is a load test?", MaxTokens: 5}},
			skipped: []Skipped{
				{"d.json", 1, "not an object"},
				{"d.json", 1, "no prompt"},
			},
		},
		{
			name:   "a line each",
			data:   "[\n" + conv(q) + ",\n\n  " + conv(q, a) + "\n  ,\n" + `"text"` + ",\n" + conv() + "\n]\n",
			loaded: []Payload{{Index: 1, Prompt: "What is a load test?", MaxTokens: 5}},
			skipped: []Skipped{
				{"d.json", 2, "no reply"},
				{"d.json", 6, "not an object"},
				{"d.json", 7, "no prompt"},
			},
		},
		{
			name:   "CRLF and byte order mark",
			data:   "\ufeff[\r\n" + conv(a, q) + ",\r\n" + conv(q, a) + "\r\n]\r\n",
			loaded: []Payload{{Index: 1, Prompt: "What is a load test?", MaxTokens: 5}},
			skipped: []Skipped{
				{"d.json", 2, "no reply"},
			},
		},
		{
			name: "roles and odd turns",
			data: "[\n" + conv(`{"role": "system", "content": "Be brief please."}`, `{"role": "user", "content": "Name three colours."}`, `{"role": "assistant", "content": "Red, green, blue."}`) +
				",\n" + conv(`{"from": 3}`, `"turn"`, q, `{"from": "human", "value": "a second question"}`, a) +
				",\n" + `{"conversations": {"from": "human"}}` +
				",\n" + `{"id": 9}` + "\n]",
			loaded: []Payload{
				{Index: 0, Prompt: "Name three colours.", MaxTokens: 5},
				{Index: 1, Prompt: "What is a load test?", MaxTokens: 5},
			},
			skipped: []Skipped{
				{"d.json", 4, "no prompt"},
				{"d.json", 5, "no prompt"},
			},
		},
		{
			name: "bounds",
			data: "[\n" + strings.Join([]string{
				conv(`{"from":"human","value":"`+text(3)+`"}`, `{"from":"gpt","value":"`+text(4)+`"}`),
				conv(`{"from":"human","value":"`+text(4)+`"}`, `{"from":"gpt","value":"`+text(3)+`"}`),
				conv(`{"from":"human","value":"`+text(4)+`"}`, `{"from":"gpt","value":"`+text(4)+`"}`),
				conv(`{"from":"human","value":"`+text(11)+`"}`, `{"from":"gpt","value":"`+text(4)+`"}`),
				conv(`{"from":"human","value":"`+text(10)+`"}`, `{"from":"gpt","value":"`+text(5)+`"}`),
				conv(`{"from":"human","value":"`+text(10)+`"}`, `{"from":"gpt","value":"`+text(6)+`"}`),
			}, ",\n") + "\n]",
			opt: ShareGPTOptions{MaxPrompt: 10, MaxTotal: 15},
			loaded: []Payload{
				{Index: 2, Prompt: text(4), MaxTokens: 4},
				{Index: 4, Prompt: text(10), MaxTokens: 5},
			},
			skipped: []Skipped{
				{"d.json", 2, "too short"},
				{"d.json", 3, "too short"},
				{"d.json", 5, "too long"},
				{"d.json", 7, "too long"},
			},
		},
		{
			name: "defaults as vLLM's",
			data: "[\n" + strings.Join([]string{
				conv(`{"from":"human","value":"`+text(1024)+`"}`, `{"from":"gpt","value":"`+text(1024)+`"}`),
				conv(`{"from":"human","value":"`+text(1025)+`"}`, `{"from":"gpt","value":"`+text(4)+`"}`),
				conv(`{"from":"human","value":"`+text(1024)+`"}`, `{"from":"gpt","value":"`+text(1025)+`"}`),
			}, ",\n") + "\n]",
			loaded: []Payload{{Index: 0, Prompt: text(1024), MaxTokens: 1024}},
			skipped: []Skipped{
				{"d.json", 3, "too long"},
				{"d.json", 4, "too long"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rep, err := ShareGPT(writeFile(t, "d.json", tc.data), tc.opt, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rep.Skipped, tc.skipped) {
				t.Errorf("skipped %+v\nwant %+v", rep.Skipped, tc.skipped)
			}
			if rep.Loaded != len(tc.loaded) {
				t.Fatalf("loaded %d, want %d", rep.Loaded, len(tc.loaded))
			}
			got := map[int64]Payload{}
			for _, p := range drain(t, s, rep.Loaded) {
				got[p.Index] = p
			}
			for _, want := range tc.loaded {
				want.Asked = Pieces(want.Prompt)
				if !reflect.DeepEqual(got[want.Index], want) {
					t.Errorf("entry %d: %+v, want %+v", want.Index, got[want.Index], want)
				}
			}
		})
	}
}

func TestShareGPTErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "d.json:1:1: a ShareGPT file is a JSON array of conversations"},
		{"blank", "\n\n", "d.json:3:1: a ShareGPT file is a JSON array"},
		{"object", "\n  {\"conversations\": []}", "d.json:2:3: a ShareGPT file is a JSON array"},
		{"not JSON", "  x", "d.json:1:3: invalid character 'x' looking for beginning of value"},
		{"no entries", "[\n]", "d.json has no usable entries (sharegpt d.json: 0 entries)"},
		{"none usable", "[\n  {},\n  []\n]", "no usable entries (sharegpt d.json: 0 entries, 2 skipped (no prompt: 1, not an object: 1; first at d.json:2))"},
		{"truncated", "[\n  {\"conversations\": [\n", "d.json:3:1: unexpected EOF"},
		{"unclosed", "[\n  {}", "d.json:2:5: unexpected EOF"},
		{"bad value", "[\n  {\"conversations\": []},\n  {\"conversations\": [,]}\n]", "d.json:3:22: invalid character ','"},
		{"bad literal", "[{},\n{},\n{\"a\":\n tru}]", "d.json:4:5: invalid character '}' in literal true"},
		{"first bad", "[,{}]", "d.json:1:2: invalid character ','"},
		{"missing comma", "[\n  {}\n  {}\n]", "d.json:3:3: expected comma after array element"},
		{"trailing comma", "[{},\n]", "d.json:2:1: invalid character ']'"},
		{"bad close", "[{}}", "d.json:1:4: invalid character '}' after array element"},
		{"data after", "[{}]\n\n  x", "d.json:3:3: data after the array"},
		{"second array", "[{}] []", "d.json:1:6: data after the array"},
	} {
		if _, _, err := ShareGPT(writeFile(t, "d.json", tc.data), ShareGPTOptions{}, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant %q", tc.name, err, tc.want)
		}
	}
	if _, _, err := ShareGPT(t.TempDir(), ShareGPTOptions{}, 0); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
}

func FuzzShareGPT(f *testing.F) {
	data, err := os.ReadFile("testdata/sharegpt.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`[{"conversations":[{"from":"human","value":"0123456789abcdef"},{"from":"gpt","value":"0123456789abcdef"}]}]`))
	f.Add([]byte(`[{"conversations":[{"role":"user","content":"0123456789abcdef"},{"role":"assistant","content":"0123456789abcdef"}]}, 1, "x", null]`))
	f.Add([]byte("[\n{},\n{\"a\":\n tru}]"))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, rep, err := ShareGPT(writeFile(t, "f.json", string(data)), ShareGPTOptions{}, 1)
		if err != nil {
			if s != nil {
				t.Fatalf("a source and an error: %v", err)
			}
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, sk := range rep.Skipped {
			if sk.Line < 1 || sk.Line > lines || sk.Reason == "" {
				t.Fatalf("skip %+v in a file of %d lines", sk, lines)
			}
		}
		for _, p := range drain(t, s, 2*rep.Loaded) {
			if p.Prompt == "" || p.MaxTokens < 4 || p.Index < 0 {
				t.Fatalf("payload %+v from a loaded entry", p)
			}
		}
	})
}
