package datasets

import (
	"reflect"
	"strings"
	"testing"
)

func TestJSONL(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		bodies     map[int64]string
		skipped    []Skipped
	}{
		{
			name:   "bodies and skips",
			data:   "{\"prompt\": \"a\"}\n\n[1,2]\n  {\"messages\": []}  \r\nnot json\n{\"prompt\": \"last\", \"max_tokens\": 9}",
			bodies: map[int64]string{0: `{"prompt": "a"}`, 3: `{"messages": []}`, 5: `{"prompt": "last", "max_tokens": 9}`},
			skipped: []Skipped{
				{"b.jsonl", 3, "not a JSON object"},
				{"b.jsonl", 5, "not a JSON object"},
			},
		},
		{
			name:   "broken objects",
			data:   "{\"a\": 1\n{}\n{} {}\n\"{}\"\n{\"b\": tru}\n",
			bodies: map[int64]string{1: `{}`},
			skipped: []Skipped{
				{"b.jsonl", 1, "not a JSON object"},
				{"b.jsonl", 3, "not a JSON object"},
				{"b.jsonl", 4, "not a JSON object"},
				{"b.jsonl", 5, "not a JSON object"},
			},
		},
		{
			name:   "byte order mark and trailing blanks",
			data:   "\ufeff{\"model\": \"m\"}\n\n\n",
			bodies: map[int64]string{0: `{"model": "m"}`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rep, err := JSONL(writeFile(t, "b.jsonl", tc.data), 3)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Loaded != len(tc.bodies) || !reflect.DeepEqual(rep.Skipped, tc.skipped) {
				t.Errorf("loaded %d skipped %+v\nwant %d and %+v", rep.Loaded, rep.Skipped, len(tc.bodies), tc.skipped)
			}
			bodies := map[int64]string{}
			for _, p := range drain(t, s, rep.Loaded) {
				if p.Prompt != "" || p.MaxTokens != 0 {
					t.Errorf("payload %+v has LLM fields", p)
				}
				bodies[p.Index] = string(p.Body)
			}
			if !reflect.DeepEqual(bodies, tc.bodies) {
				t.Errorf("one pass gave %v, want %v", bodies, tc.bodies)
			}
		})
	}
}

func TestJSONLErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "b.jsonl has no usable lines (jsonl b.jsonl: 0 entries)"},
		{"blank", "\n \n\t\n", "has no usable lines"},
		{"none usable", "\n[]\n", "has no usable lines (jsonl b.jsonl: 0 entries, 1 skipped (not a JSON object: 1; first at b.jsonl:2))"},
	} {
		if _, _, err := JSONL(writeFile(t, "b.jsonl", tc.data), 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant %q", tc.name, err, tc.want)
		}
	}
}

func FuzzJSONL(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n\n{\"b\":2}\n"))
	f.Add([]byte("{\"prompt\": \"x\", \"messages\": [{\"role\": \"user\"}]}\r\n[]\nx\n{"))
	f.Add([]byte("\ufeff{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, rep, err := JSONL(writeFile(t, "f.jsonl", string(data)), 1)
		if err != nil {
			if s != nil {
				t.Fatalf("a source and an error: %v", err)
			}
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, p := range drain(t, s, 2*rep.Loaded) {
			if len(p.Body) == 0 || p.Body[0] != '{' || p.Index < 0 || p.Index >= int64(lines) {
				t.Fatalf("payload %+v from a file of %d lines", p, lines)
			}
		}
	})
}
