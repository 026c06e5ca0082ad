package probe

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// events reads every event of a stream, copying the data.
func events(r io.Reader) ([]Event, error) {
	sr := NewSSEReader(r)
	var out []Event
	for {
		ev, err := sr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		ev.Data = append([]byte(nil), ev.Data...)
		out = append(out, ev)
	}
}

func TestSSEReaderFollowsTheStandard(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Event
	}{
		{"lf", "data: a\n\ndata: b\n\n", []Event{{Data: []byte("a")}, {Data: []byte("b")}}},
		{"crlf and cr", "data: a\r\n\r\ndata: b\r\rdata: c\r\n\n", []Event{{Data: []byte("a")}, {Data: []byte("b")}, {Data: []byte("c")}}},
		{"multi-line data", "data: one\ndata: two\ndata\n\n", []Event{{Data: []byte("one\ntwo\n")}}},
		{"one space dropped, no more", "data:x\n\ndata:  y\n\n", []Event{{Data: []byte("x")}, {Data: []byte(" y")}}},
		{"comments and unknown fields", ": ping\nretry: 10\nfoo: bar\ndata: z\n\n", []Event{{Data: []byte("z")}}},
		{"event type and id", "event: update\nid: 7\ndata: {}\n\n", []Event{{Type: "update", ID: "7", Data: []byte("{}")}}},
		{"no data, no event", "event: x\n\n\ndata: y\n\n", []Event{{Data: []byte("y")}}},
		{"cut mid-event", "data: a\n\ndata: b\n", []Event{{Data: []byte("a")}}},
		{"colon in data", "data: {\"a\":\"b:c\"}\n\n", []Event{{Data: []byte(`{"a":"b:c"}`)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := events(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// The streams of real engines, as their documentation shows them, read
// the same whether they arrive whole or a byte at a time.
func TestSSEReaderEngineStreams(t *testing.T) {
	files, _ := filepath.Glob("testdata/streams/*.sse")
	if len(files) == 0 {
		t.Fatal("no streams in testdata/streams")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		whole, err := events(strings.NewReader(string(data)))
		if err != nil {
			t.Fatal(err)
		}
		bytewise, err := events(iotest.OneByteReader(strings.NewReader(string(data))))
		if err != nil {
			t.Fatal(err)
		}
		if len(whole) < 3 || string(whole[len(whole)-1].Data) != "[DONE]" || !reflect.DeepEqual(whole, bytewise) {
			t.Errorf("%s: %d events, last %q; byte by byte equal: %v", f, len(whole), whole[len(whole)-1].Data, reflect.DeepEqual(whole, bytewise))
		}
	}
}

func FuzzSSEReader(f *testing.F) {
	files, _ := filepath.Glob("testdata/streams/*.sse")
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Add([]byte("data: a\r\rdata\n:x\r\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, err := events(strings.NewReader(string(data)))
		if err != nil {
			t.Fatal(err)
		}
		bytewise, _ := events(iotest.OneByteReader(strings.NewReader(string(data))))
		if !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("chunking changed the events: %q vs %q", whole, bytewise)
		}
		for _, ev := range whole {
			if strings.ContainsAny(ev.Type, "\r\n") || strings.ContainsAny(ev.ID, "\r\n") {
				t.Fatalf("a line ending inside a field: %+v", ev)
			}
		}
	})
}
