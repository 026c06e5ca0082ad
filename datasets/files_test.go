package datasets

import (
	"archive/zip"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capfinder/capfinder/datasets/datasetstest"
)

// take returns the next n payloads' bodies and indexes.
func take(t *testing.T, src Source, n int) ([]string, []int64) {
	t.Helper()
	var bodies []string
	var idx []int64
	for range n {
		p, ok := src.Next()
		if !ok {
			t.Fatal("source ended")
		}
		bodies, idx = append(bodies, string(p.Body)), append(idx, p.Index)
	}
	return bodies, idx
}

func TestFilesInOrderRoundRobin(t *testing.T) {
	a := writeFile(t, "a.bin", "A\x00\xff")
	b := writeFile(t, "b.json", `{"x":1}`+"\n")
	src, rep, err := Files(a+", "+b, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, idx := take(t, src, 5)
	want := []string{"A\x00\xff", `{"x":1}` + "\n", "A\x00\xff", `{"x":1}` + "\n", "A\x00\xff"}
	if strings.Join(got, "|") != strings.Join(want, "|") || idx[1] != 1 || idx[2] != 0 {
		t.Errorf("got %q %v, want %q", got, idx, want)
	}
	if rep.Loaded != 2 || len(rep.Skipped) != 0 {
		t.Errorf("report %+v", rep)
	}
}

func TestFilesMultiLine(t *testing.T) {
	p := writeFile(t, "reqs.txt", "one\r\ntwo\n\n   \nthree")
	src, rep, err := Files(p, FileOptions{MultiLine: true})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := take(t, src, 4)
	if strings.Join(got, ",") != "one,two,three,one" {
		t.Errorf("got %q", got)
	}
	if rep.Loaded != 3 || len(rep.Skipped) != 2 || rep.Skipped[0] != (Skipped{File: "reqs.txt", Line: 3, Reason: "blank line"}) || rep.Skipped[1].Line != 4 {
		t.Errorf("report %+v", rep)
	}
}

func TestFilesZip(t *testing.T) {
	z := datasetstest.Zip(t, map[string]string{"b/2.txt": "two", "a/1.txt": "one\nuno", "dir/": "", "__MACOSX/._a": "junk"})
	// The archive is known by its content, whatever its name.
	p := writeFile(t, "data.bin", string(z))
	src, rep, err := Files(p, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := take(t, src, 2); strings.Join(got, ",") != "one\nuno,two" || rep.Loaded != 2 {
		t.Errorf("got %q, report %+v", got, rep)
	}
	src, rep, err = Files(p, FileOptions{MultiLine: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := take(t, src, 3); strings.Join(got, ",") != "one,uno,two" || rep.Loaded != 3 {
		t.Errorf("multi-line: got %q, report %+v", got, rep)
	}
}

func TestFilesRefusesUnsafeArchives(t *testing.T) {
	for _, name := range []string{"../evil", "a/../../evil", `..\evil`, "/etc/passwd", `C:\evil`} {
		p := writeFile(t, "bad.zip", string(datasetstest.Zip(t, map[string]string{"ok.txt": "fine", name: "x"})))
		if _, _, err := Files(p, FileOptions{}); err == nil || !strings.Contains(err.Error(), "escapes the archive") {
			t.Errorf("entry %q: %v", name, err)
		}
	}
	// A small archive that unpacks past the limit (a zip bomb) stops at
	// the limit rather than filling memory.
	p := writeFile(t, "bomb.zip", string(datasetstest.Zip(t, map[string]string{"big": strings.Repeat("0", 1<<20)})))
	if st, _ := os.Stat(p); st.Size() > 1<<14 {
		t.Fatalf("the test archive is %d bytes; it should compress", st.Size())
	}
	if _, _, err := Files(p, FileOptions{MaxBytes: 1 << 16}); err == nil || !strings.Contains(err.Error(), "exceed") {
		t.Errorf("bomb: %v", err)
	}
}

func TestFilesFromURL(t *testing.T) {
	z := datasetstest.Zip(t, map[string]string{"1": "first", "2": "second"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/data.zip":
			w.Write(z)
		case "/one.txt":
			w.Write([]byte("plain"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	src, rep, err := Files(srv.URL+"/data.zip,"+srv.URL+"/one.txt", FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, idx := take(t, src, 3); strings.Join(got, ",") != "first,second,plain" || idx[2] != 2 || rep.Loaded != 3 {
		t.Errorf("got %q %v", got, idx)
	}
	if _, _, err := Files(srv.URL+"/missing", FileOptions{}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing URL: %v", err)
	}
}

func TestFilesErrors(t *testing.T) {
	dir := t.TempDir()
	empty := writeFile(t, "empty.txt", "\n\n")
	for _, c := range []struct{ list, want string }{
		{filepath.Join(dir, "nope.bin"), "no such file"},
		{dir, "is a directory"},
		{"oss://bucket/x.bin", "only local paths and http(s) URLs"},
		{" , ", "no file named"},
		{empty, "hold no payloads"},
	} {
		if _, _, err := Files(c.list, FileOptions{MultiLine: true}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.list, err, c.want)
		}
	}
}

func TestBodiesRandomIsSeededAndCoversEveryPass(t *testing.T) {
	bodies := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e")}
	first, _ := take(t, Bodies(bodies, true, 7), 10)
	again, _ := take(t, Bodies(bodies, true, 7), 10)
	other, _ := take(t, Bodies(bodies, true, 8), 10)
	if strings.Join(first, "") != strings.Join(again, "") {
		t.Errorf("the same seed gave %q and %q", first, again)
	}
	if strings.Join(first, "") == strings.Join(other, "") {
		t.Errorf("seeds 7 and 8 gave the same order %q", first)
	}
	for pass := range 2 {
		seen := map[string]bool{}
		for _, b := range first[5*pass : 5*pass+5] {
			seen[b] = true
		}
		if len(seen) != 5 {
			t.Errorf("pass %d sent %q, not every payload once", pass, first[5*pass:5*pass+5])
		}
	}
}

func TestBase64(t *testing.T) {
	for in, want := range map[string]string{
		"aGVsbG8K":                 "hello\n",
		"aGVsbG8":                  "hello",
		"aGVs\nbG8K\n":             "hello\n",
		"-_8=":                     "\xfb\xff",
		"eyJhIjogWzEsIDJdfQ==":     `{"a": [1, 2]}`,
		"  eyJhIjogWzEsIDJdfQ==  ": `{"a": [1, 2]}`,
	} {
		got, err := Base64(in)
		if err != nil || string(got) != want {
			t.Errorf("Base64(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"aGV*bG8K": "at character 4", "": "empty", "a": "invalid base64"} {
		if _, err := Base64(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Base64(%q): %v, want %q", in, err, want)
		}
	}
}

// FuzzFiles reads arbitrary bytes as a payload file, whole and by line:
// no panic, every payload non-empty when split, and the payloads of a
// plain file account for all of it.
func FuzzFiles(f *testing.F) {
	f.Add([]byte("one\ntwo\r\n\nthree"))
	f.Add([]byte("PK\x03\x04 not really a zip"))
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("a.txt")
	w.Write([]byte("x\ny"))
	zw.Close()
	f.Add(buf.Bytes())
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "in")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, multi := range []bool{false, true} {
			src, rep, err := Files(p, FileOptions{MultiLine: multi, MaxBytes: 1 << 20})
			if err != nil {
				continue
			}
			got, _ := take(t, src, rep.Loaded)
			total := 0
			for _, b := range got {
				if multi && strings.TrimSpace(b) == "" {
					t.Fatalf("blank payload %q from %q", b, data)
				}
				total += len(b)
			}
			if !multi && !isZip(data) && total != len(data) {
				t.Fatalf("%d bytes of payload from a %d-byte file", total, len(data))
			}
		}
	})
}
