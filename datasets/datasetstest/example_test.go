package datasetstest_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"testing"

	"github.com/capfinder/capfinder/datasets/datasetstest"
)

// A zip of two request bodies, as a test would serve or write it.
func ExampleZip() {
	var t testing.T
	b := datasetstest.Zip(&t, map[string]string{"a.json": `{"a":1}`})
	r, _ := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	for _, f := range r.File {
		fmt.Println(f.Name, f.UncompressedSize64)
	}
	// Output:
	// a.json 7
}
