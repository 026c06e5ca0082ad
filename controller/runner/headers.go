package runner

import (
	"fmt"
	"net/http"
	"os"
	"strings"
)

// ParseHeaders reads "Name: value" headers into h. A value may name
// environment variables as ${NAME}, so that secrets stay out of command
// lines and files: the value is kept as written, ${NAME} and all, and
// read from the environment only when the run sends it (so a spec, and
// run.json, never holds it; New refuses a variable that is not set).
func ParseHeaders(h map[string][]string, hs []string) error {
	for _, kv := range hs {
		k, v, ok := strings.Cut(kv, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return fmt.Errorf("header %q is not \"Name: value\"", kv)
		}
		v = strings.TrimSpace(v)
		if _, err := EnvNames(v); err != nil {
			return fmt.Errorf("header %s: %v", k, err)
		}
		http.Header(h).Add(k, v)
	}
	return nil
}

// expandHeaders returns h with the environment variables its values name
// put in.
func expandHeaders(h map[string][]string) (http.Header, error) {
	out := http.Header{}
	for k, vs := range h {
		for _, v := range vs {
			v, err := substitute(v, os.LookupEnv)
			if err != nil {
				return nil, fmt.Errorf("header %s: %v", k, err)
			}
			out.Add(k, v)
		}
	}
	return out, nil
}

// EnvNames lists the environment variables a header value names as
// ${NAME}, in order: what a run reads from its environment, and what
// capfinder kube takes from a Secret.
func EnvNames(s string) ([]string, error) {
	var names []string
	_, err := substitute(s, func(name string) (string, bool) {
		names = append(names, name)
		return "", true
	})
	return names, err
}

// substitute replaces each ${NAME} in s with its value by lookup; one
// that lookup has not, a ${ left open and an empty name are errors. A "$"
// not followed by "{" is kept as it is.
func substitute(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unclosed ${ in %q", s)
		}
		name := s[i+2 : i+j]
		if name == "" {
			return "", fmt.Errorf("${} names no variable in %q", s)
		}
		v, ok := lookup(name)
		if !ok {
			return "", fmt.Errorf("${%s} is not set in the environment", name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}
