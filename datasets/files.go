package datasets

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Limits on what payload files may hold: every payload is kept in memory,
// and an archive is unpacked there, never onto disk.
const (
	// MaxDataBytes bounds the payloads of a run together, after unpacking
	// (1 GiB).
	MaxDataBytes = 1 << 30
	// MaxZipEntries bounds the files of one archive.
	MaxZipEntries = 100_000
	// fetchTimeout bounds the download of one data URL.
	fetchTimeout = 5 * time.Minute
)

// FileOptions says how payload files become requests.
type FileOptions struct {
	// MultiLine makes each line of a file one payload (blank lines are
	// skipped and counted); otherwise a whole file is one.
	MultiLine bool
	// Random picks payloads in a seeded random order, a new one on every
	// pass, instead of round robin.
	Random bool
	Seed   uint64
	// MaxBytes bounds the payloads together; 0 means MaxDataBytes.
	MaxBytes int64
}

// Files reads payloads from a comma-separated list of local paths and
// http(s) URLs, in order. A zip archive (told by its content, not its
// name) gives each file it holds, sorted by name; its entries are read in
// memory, and one whose name would escape the archive is an error. The
// payload index is the payload's position in that order.
func Files(list string, opt FileOptions) (Source, *Report, error) {
	var names []string
	for p := range strings.SplitSeq(list, ",") {
		if p = strings.TrimSpace(p); p != "" {
			names = append(names, p)
		}
	}
	if len(names) == 0 {
		return nil, nil, errors.New("data: no file named")
	}
	shownNames := make([]string, len(names))
	for i, n := range names {
		shownNames[i] = shown(n)
	}
	rep := &Report{Name: "files " + strings.Join(shownNames, ",")}
	r := reader{max: opt.MaxBytes}
	if r.max <= 0 {
		r.max = MaxDataBytes
	}
	for _, name := range names {
		data, err := r.load(name)
		if err != nil {
			return nil, nil, err
		}
		if isZip(data) {
			if err := r.unzip(shown(name), data, opt.MultiLine, rep); err != nil {
				return nil, nil, err
			}
			continue
		}
		r.add(filepath.Base(shown(name)), data, opt.MultiLine, rep)
	}
	if len(r.bodies) == 0 {
		return nil, nil, fmt.Errorf("data: %s hold no payloads", strings.Join(shownNames, ","))
	}
	rep.Loaded = len(r.bodies)
	return Bodies(r.bodies, opt.Random, opt.Seed), rep, nil
}

// reader gathers payloads and keeps their total under MaxDataBytes.
type reader struct {
	bodies     [][]byte
	total, max int64
}

// room is how many more bytes may be read.
func (r *reader) room() int64 { return r.max - r.total }

// readAll reads rd to its end within the room left.
func (r *reader) readAll(name string, rd io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(rd, r.room()+1))
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	if int64(len(b)) > r.room() {
		return nil, fmt.Errorf("data: %s: the payloads exceed %d bytes", name, r.max)
	}
	return b, nil
}

// load reads a local file or downloads a URL.
func (r *reader) load(name string) ([]byte, error) {
	if strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://") {
		return r.fetch(name)
	}
	if strings.Contains(name, "://") {
		return nil, fmt.Errorf("data: %s: only local paths and http(s) URLs can be read", shown(name))
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("data: %s is a directory; name its files, or zip it", name)
	}
	return r.readAll(name, f)
}

func (r *reader) fetch(u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", shown(u), err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// A *url.Error would say the URL, secrets and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("data: %s: %w", shown(u), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("data: %s answered %s", shown(u), resp.Status)
	}
	return r.readAll(shown(u), resp.Body)
}

// shown is a data file's name as capfinder prints it: a URL without its
// password or query, which for a presigned URL are credentials
// (X-Amz-Signature, sig, token…); "?…" says there was one.
func shown(name string) string {
	u, err := url.Parse(name)
	if err != nil || u.Host == "" {
		return name
	}
	query := u.RawQuery != ""
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	if query {
		return u.String() + "?…"
	}
	return u.String()
}

// add keeps data as one payload, or each of its non-blank lines.
func (r *reader) add(name string, data []byte, multiLine bool, rep *Report) {
	r.total += int64(len(data))
	if !multiLine {
		r.bodies = append(r.bodies, data)
		return
	}
	n := 0
	for line := range bytes.Lines(data) {
		n++
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			rep.Skipped = append(rep.Skipped, Skipped{File: name, Line: n, Reason: "blank line"})
			continue
		}
		r.bodies = append(r.bodies, line)
	}
}

// unzip adds the files of an archive, sorted by name.
func (r *reader) unzip(name string, data []byte, multiLine bool, rep *Report) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("data: %s: %w", name, err)
	}
	if len(zr.File) > MaxZipEntries {
		return fmt.Errorf("data: %s holds %d files, more than %d", name, len(zr.File), MaxZipEntries)
	}
	files := slices.Clone(zr.File)
	slices.SortFunc(files, func(a, b *zip.File) int { return strings.Compare(a.Name, b.Name) })
	base := filepath.Base(name)
	for _, f := range files {
		if !safeEntry(f.Name) {
			return fmt.Errorf("data: %s: entry %q escapes the archive", name, f.Name)
		}
		if f.FileInfo().IsDir() || strings.HasPrefix(f.Name, "__MACOSX/") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("data: %s: %s: %w", name, f.Name, err)
		}
		b, err := r.readAll(base+":"+f.Name, rc)
		rc.Close()
		if err != nil {
			return err
		}
		r.add(base+":"+f.Name, b, multiLine, rep)
	}
	return nil
}

// safeEntry reports whether an archive entry's name stays inside the
// archive: relative, and no ".." element, with either slash.
func safeEntry(name string) bool {
	n := strings.ReplaceAll(name, `\`, "/")
	if n == "" || path.IsAbs(n) || filepath.VolumeName(name) != "" || (len(n) > 1 && n[1] == ':') {
		return false
	}
	return !slices.Contains(strings.Split(n, "/"), "..")
}

func isZip(b []byte) bool {
	return bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06"))
}

// Base64 decodes a payload given in base64, standard or URL-safe, padded
// or not; whitespace (a wrapped encoding) is ignored.
func Base64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, s)
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	b, err := enc.WithPadding(base64.NoPadding).DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		var at base64.CorruptInputError
		if errors.As(err, &at) {
			return nil, fmt.Errorf("invalid base64 at character %d", int64(at)+1)
		}
		return nil, fmt.Errorf("invalid base64: %w", err)
	}
	if len(b) == 0 {
		return nil, errors.New("the base64 payload is empty")
	}
	return b, nil
}

// Bodies returns a source cycling through bodies without end: round
// robin, or each pass in a new seeded random order. Index is the body's
// position in bodies.
func Bodies(bodies [][]byte, random bool, seed uint64) Source {
	items := make([]Payload, len(bodies))
	for i, b := range bodies {
		items[i] = Payload{Index: int64(i), Body: b}
	}
	if random {
		return newShuffled(items, seed)
	}
	return &roundRobin{items: items}
}

type roundRobin struct {
	items []Payload
	next  int
}

func (r *roundRobin) Next() (Payload, bool) {
	p := r.items[r.next]
	r.next = (r.next + 1) % len(r.items)
	return p, true
}
