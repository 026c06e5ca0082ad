package datasets

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// JSONL reads a file of one JSON object per line, each a request body
// kept as it is (an LLM client merges its own fields into it). Blank
// lines are ignored; lines that are not objects are skipped and
// reported. A payload's Index is its 0-based line.
func JSONL(path string, seed uint64) (Source, *Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	name := filepath.Base(path)
	rep := &Report{Name: "jsonl " + name}
	var items []Payload
	r := bufio.NewReader(f)
	skipBOM(r)
	for n := 0; ; n++ {
		line, err := r.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("dataset: %s:%d: %w", path, n+1, err)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			// Valid JSON that opens with a brace is an object.
			if t[0] == '{' && json.Valid(t) {
				items = append(items, Payload{Index: int64(n), Body: t})
			} else {
				rep.Skipped = append(rep.Skipped, Skipped{File: name, Line: n + 1, Reason: "not a JSON object"})
			}
		}
		if err != nil {
			break
		}
	}
	rep.Loaded = len(items)
	if len(items) == 0 {
		return nil, rep, fmt.Errorf("dataset: %s has no usable lines (%s)", path, rep)
	}
	return newShuffled(items, seed), rep, nil
}
