// Package datasetstest helps test code that reads request payloads: it
// builds the archives users bring, in memory.
package datasetstest

import (
	"archive/zip"
	"bytes"
	"testing"
)

// Zip returns a zip archive holding files, by name; a name ending in "/"
// is a directory.
func Zip(tb testing.TB, files map[string]string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
