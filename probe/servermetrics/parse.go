package servermetrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Kinds of series kept.
const (
	Gauge   = "gauge"
	Counter = "counter"
	Untyped = "untyped"
)

// Sample is one series' value at a scrape. Key is the series in
// Prometheus text form, its labels sorted:
// `vllm:num_requests_waiting{model_name="x"}`.
type Sample struct {
	Key, Name, Kind string
	Value           float64
}

// Parse reads a Prometheus text exposition and returns its gauges,
// counters and untyped series, in order. Histograms and summaries (their
// _bucket, _sum and _count series) are left out, as are OpenMetrics'
// _created series and NaN values. A line that is not a sample fails with
// its number.
func Parse(r io.Reader) ([]Sample, error) {
	types := map[string]string{}
	var out []Sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			if f := strings.Fields(rest); len(f) >= 3 && f[0] == "TYPE" {
				types[f[1]] = strings.ToLower(f[2])
			}
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("servermetrics: line %d: %v", n, err)
		}
		kind, ok := kindOf(s.Name, types)
		if !ok || math.IsNaN(s.Value) || strings.HasSuffix(s.Name, "_created") {
			continue
		}
		s.Kind = kind
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("servermetrics: %w", err)
	}
	return out, nil
}

// kindOf is the kind of the series named name, and whether it is kept.
func kindOf(name string, types map[string]string) (string, bool) {
	if t, ok := types[name]; ok {
		switch t {
		case Gauge, Counter, Untyped:
			return t, true
		}
		return "", false
	}
	// A series of a histogram, a summary or an OpenMetrics counter has a
	// suffix its family's TYPE line does not.
	for _, suffix := range []string{"_bucket", "_sum", "_count", "_total"} {
		family, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch t := types[family]; {
		case t == Counter && suffix == "_total":
			return Counter, true
		case t != "":
			return "", false
		}
	}
	return Untyped, true
}

// parseSample reads `name{label="value",...} value [timestamp]`.
func parseSample(line string) (Sample, error) {
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return Sample{}, fmt.Errorf("%q is not a sample", line)
	}
	s := Sample{Name: line[:i]}
	rest := line[i:]
	var labels []string
	if rest[0] == '{' {
		var err error
		if labels, rest, err = parseLabels(rest[1:]); err != nil {
			return Sample{}, err
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return Sample{}, fmt.Errorf("%q has no value", line)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return Sample{}, fmt.Errorf("%q is not a number", f[0])
	}
	s.Value = v
	sort.Strings(labels)
	s.Key = s.Name
	if len(labels) > 0 {
		s.Key += "{" + strings.Join(labels, ",") + "}"
	}
	return s, nil
}

// labelEscaper escapes a label value as the text format does.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// parseLabels reads labels after the opening brace, up to and past the
// closing one, each as name="value" with the value re-escaped.
func parseLabels(s string) (labels []string, rest string, err error) {
	for {
		s = strings.TrimLeft(s, " \t,")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return nil, "", fmt.Errorf("malformed labels at %q", s)
		}
		name := strings.TrimSpace(s[:eq])
		if !validLabelName(name) {
			return nil, "", fmt.Errorf("malformed labels at %q: %q is not a label name", s, name)
		}
		var b strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[i])
				}
				continue
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, "", fmt.Errorf("unterminated label value at %q", s)
		}
		labels = append(labels, name+`="`+labelEscaper.Replace(b.String())+`"`)
		s = s[i+1:]
	}
}

// validLabelName reports whether name is a label name of the text format:
// [a-zA-Z_][a-zA-Z0-9_]*.
func validLabelName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range []byte(name) {
		letter := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
