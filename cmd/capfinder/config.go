package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// benchDesc is an EAS bench_desc JSON file, with the service's URL added
// since there is no EAS gateway to name it. Each known field maps to the
// run flag of the same meaning; units are EAS's (seconds, milliseconds).
type benchDesc struct {
	URL         string
	ServiceName string
	Headers     []string
	// set holds, by flag name, the flag values the file gives.
	set map[string]string
}

// configFields are the fields of each section, with the flag each one
// sets ("" for those handled apart) and how its value reads.
var configFields = map[string]map[string]configField{
	"service": {
		"serviceName": {kind: "string"},
		"url":         {kind: "string"},
	},
	"data": {
		"content":   {flag: "data-base64", kind: "string"},
		"path":      {flag: "data-file", kind: "string"},
		"multiLine": {flag: "multi-line", kind: "bool"},
	},
	"http": {
		"headers": {kind: "strings"},
		"timeout": {flag: "timeout", kind: "ms"},
	},
	"optional": {
		"mode":           {flag: "mode", kind: "string"},
		"duration":       {flag: "duration", kind: "s"},
		"agentCount":     {kind: "int"},
		"concurrency":    {kind: "int"},
		"adjustInterval": {flag: "adjust-interval", kind: "s"},
		"minQPS":         {flag: "min-qps", kind: "number"},
		"maxQPS":         {flag: "max-qps", kind: "number"},
		"maxRT":          {flag: "max-rt", kind: "ms"},
		"qpsGrowthDelta": {flag: "qps-growth-delta", kind: "number"},
		"faultTolerate":  {flag: "fault-tolerate", kind: "number"},
		"faultAction":    {flag: "fault-action", kind: "string"},
	},
}

type configField struct{ flag, kind string }

// readConfig reads an EAS bench_desc file. Bad JSON is reported with its
// line and column; an unknown section or field, or a value of the wrong
// type, by its path.
func readConfig(path string) (*benchDesc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	var sections map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &sections); err != nil {
		return nil, fmt.Errorf("--config %s: %s", path, jsonError(data, err))
	}
	d := &benchDesc{set: map[string]string{}}
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
			switch {
			case f.flag == "data-file":
				d.set[f.flag] = relativeTo(filepath.Dir(path), v.(string))
			case f.flag != "":
				d.set[f.flag] = v.(string)
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
		d.set["concurrency"] = strconv.FormatInt(agents*max(perAgent, 2), 10)
	}
	return d, nil
}

// read turns a field's JSON value into the flag value it stands for.
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
		return strconv.FormatBool(b), nil
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
	if err := json.Unmarshal(raw, &x); err != nil {
		return nil, errors.New("want a number")
	}
	switch f.kind {
	case "s":
		return strconv.FormatFloat(x, 'g', -1, 64) + "s", nil
	case "ms":
		return strconv.FormatFloat(x, 'g', -1, 64) + "ms", nil
	}
	return strconv.FormatFloat(x, 'g', -1, 64), nil
}

// apply sets the flags the file gives that the command line did not: the
// command line wins.
func (d *benchDesc) apply(c *cli.Context) error {
	for _, name := range slices.Sorted(maps.Keys(d.set)) {
		if c.IsSet(name) {
			continue
		}
		if name == "concurrency" && d.set["mode"] != "manual" && c.String("mode") != "manual" {
			// EAS reads agentCount and concurrency in manual mode only.
			continue
		}
		if err := c.Set(name, d.set[name]); err != nil {
			return fmt.Errorf("--config: %s %q: %v", name, d.set[name], err)
		}
	}
	return nil
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

// jsonError says where in data a decoding error lies, as line:column.
func jsonError(data []byte, err error) string {
	var off int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
		err = fmt.Errorf("want an object of sections, each an object of fields")
	}
	if off < 0 {
		return err.Error()
	}
	before := data[:min(int(off), len(data))]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
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
