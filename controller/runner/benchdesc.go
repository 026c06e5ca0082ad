package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"
)

// BenchDesc is an EAS bench_desc JSON file, with the service's URL added
// since there is no EAS gateway to name it. Each known field stands for
// the run flag of the same meaning; units are EAS's (seconds,
// milliseconds).
type BenchDesc struct {
	URL         string
	ServiceName string
	Headers     []string
	// set holds, by the name of the flag each stands for, the fields the
	// file gives.
	set map[string]func(*Spec)
}

// configField is a field of a section: the flag it stands for ("" for
// those handled apart), how its value reads, and how it sets a spec.
type configField struct {
	flag, kind string
	set        func(s *Spec, v any)
}

// configFields are the fields of each section.
var configFields = map[string]map[string]configField{
	"service": {
		"serviceName": {kind: "string"},
		"url":         {kind: "string"},
	},
	"data": {
		"content":   {flag: "data-base64", kind: "string", set: func(s *Spec, v any) { s.DataBase64 = v.(string) }},
		"path":      {flag: "data-file", kind: "string", set: func(s *Spec, v any) { s.DataFile = v.(string) }},
		"multiLine": {flag: "multi-line", kind: "bool", set: func(s *Spec, v any) { s.MultiLine = v.(bool) }},
	},
	"http": {
		"headers": {kind: "strings"},
		"timeout": {flag: "timeout", kind: "ms", set: func(s *Spec, v any) { s.Timeout = v.(time.Duration) }},
	},
	"optional": {
		"mode":           {flag: "mode", kind: "string", set: func(s *Spec, v any) { s.Mode = rundir.Mode(v.(string)) }},
		"duration":       {flag: "duration", kind: "s", set: func(s *Spec, v any) { s.Duration = v.(time.Duration) }},
		"agentCount":     {kind: "int"},
		"concurrency":    {kind: "int"},
		"adjustInterval": {flag: "adjust-interval", kind: "s", set: func(s *Spec, v any) { s.AdjustInterval = v.(time.Duration) }},
		"minQPS":         {flag: "min-qps", kind: "number", set: func(s *Spec, v any) { s.MinQPS = v.(float64) }},
		"maxQPS":         {flag: "max-qps", kind: "number", set: func(s *Spec, v any) { s.MaxQPS = v.(float64) }},
		"maxRT":          {flag: "max-rt", kind: "ms", set: func(s *Spec, v any) { s.MaxRT = v.(time.Duration) }},
		"qpsGrowthDelta": {flag: "qps-growth-delta", kind: "number", set: func(s *Spec, v any) { s.QPSGrowthDelta = v.(float64) }},
		"faultTolerate":  {flag: "fault-tolerate", kind: "number", set: func(s *Spec, v any) { s.FaultTolerate = v.(float64) }},
		"faultAction":    {flag: "fault-action", kind: "string", set: func(s *Spec, v any) { s.FaultAction = rundir.FaultAction(v.(string)) }},
	},
}

// ReadBenchDesc reads an EAS bench_desc file. Bad JSON is reported with
// its line and column; an unknown section or field, or a value of the
// wrong type, by its path. Relative data paths are taken from the file's
// directory, as its author meant them.
func ReadBenchDesc(path string) (*BenchDesc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	var sections map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &sections); err != nil {
		return nil, fmt.Errorf("--config %s: %s", path, rundir.JSONError(data, err, "want an object of sections, each an object of fields"))
	}
	d := &BenchDesc{set: map[string]func(*Spec){}}
	var unknown []string
	var agents, perAgent int64 = 1, 0
	for _, sec := range slices.Sorted(maps.Keys(sections)) {
		fields, ok := configFields[sec]
		if !ok {
			unknown = append(unknown, sec+suggest(sec, maps.Keys(configFields)))
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(sections[sec])) {
			f, ok := fields[name]
			if !ok {
				unknown = append(unknown, sec+"."+name+suggest(name, maps.Keys(fields)))
				continue
			}
			v, err := f.read(sections[sec][name])
			if err != nil {
				return nil, fmt.Errorf("--config %s: %s.%s: %v", path, sec, name, err)
			}
			if f.flag == "data-file" {
				v = relativeTo(filepath.Dir(path), v.(string))
			}
			switch {
			case f.set != nil:
				d.set[f.flag] = func(s *Spec) { f.set(s, v) }
			case name == "url":
				d.URL = v.(string)
			case name == "serviceName":
				d.ServiceName = v.(string)
			case name == "headers":
				d.Headers = v.([]string)
			case name == "agentCount":
				agents = v.(int64)
			case name == "concurrency":
				perAgent = v.(int64)
			}
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("--config %s: unknown field %s", path, strings.Join(unknown, ", "))
	}
	if perAgent > 0 || agents != 1 {
		// One process does the work of agentCount agents, each with its
		// concurrency (EAS's default is 2).
		n := int(agents * max(perAgent, 2))
		d.set["concurrency"] = func(s *Spec) { s.Concurrency = n }
	}
	return d, nil
}

// read turns a field's JSON value into the value it stands for: a
// string, bool, []string, int64, float64 or time.Duration.
func (f configField) read(raw json.RawMessage) (any, error) {
	switch f.kind {
	case "string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errors.New("want a string")
		}
		return s, nil
	case "bool":
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, errors.New("want true or false")
		}
		return b, nil
	case "strings":
		var ss []string
		if err := json.Unmarshal(raw, &ss); err != nil {
			return nil, errors.New(`want a list of strings, e.g. ["Authorization:${TOKEN}"]`)
		}
		return ss, nil
	case "int":
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil || n < 1 {
			return nil, errors.New("want a whole number of at least 1")
		}
		return n, nil
	}
	var x float64
	if err := json.Unmarshal(raw, &x); err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return nil, errors.New("want a number")
	}
	switch f.kind {
	case "s":
		return time.Duration(x * float64(time.Second)), nil
	case "ms":
		return time.Duration(x * float64(time.Millisecond)), nil
	}
	return x, nil
}

// Apply sets on s the fields the file gives, except those whose flag
// given reports as set on the command line: the command line wins. It
// returns the flags the file set. EAS reads agentCount and concurrency in
// manual mode only, so does Apply.
func (d *BenchDesc) Apply(s *Spec, given func(flag string) bool) map[string]bool {
	set := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(d.set)) {
		if name == "concurrency" || given(name) {
			continue
		}
		d.set[name](s)
		set[name] = true
	}
	if f, ok := d.set["concurrency"]; ok && !given("concurrency") && s.Mode == rundir.ModeManual {
		f(s)
		set["concurrency"] = true
	}
	return set
}

// relativeTo resolves the relative local paths of a comma-separated list
// against dir, the config file's directory, as its author meant them.
func relativeTo(dir, list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p != "" && !strings.Contains(p, "://") && !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// suggest returns ` (did you mean "x"?)` when name differs from a known
// one only in case, else "".
func suggest(name string, known iter.Seq[string]) string {
	for k := range known {
		if strings.EqualFold(k, name) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return ""
}
