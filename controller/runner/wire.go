package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe"
	"github.com/capfinder/capfinder/probe/rundir"
)

// newClient returns the client of the run's API.
func newClient(s Spec) (probe.Client, error) {
	header, err := expandHeaders(s.Header)
	if err != nil {
		return nil, err
	}
	cfg := probe.HTTPConfig{URL: s.URL, Method: s.Method, Header: header, Timeout: s.Timeout, MaxConns: s.Concurrency, MaxBody: s.MaxBody, Insecure: s.Insecure}
	switch s.API {
	case rundir.APIOpenAIChat, rundir.APIOpenAICompletions:
		return probe.NewOpenAIClient(probe.OpenAIConfig{
			HTTPConfig: cfg, API: s.API, Model: s.Model,
			MaxTokens: s.MaxTokens, IgnoreEOS: s.IgnoreEOS, NoStream: s.NoStream,
		})
	case rundir.APISSE:
		return probe.NewSSEClient(cfg)
	}
	return probe.NewHTTPClient(cfg)
}

// DefaultDataset is what an LLM run without a dataset or a body sends.
const DefaultDataset = "synthetic:input=256,output=128"

// newSource returns what the requests carry: the dataset, the payload
// files, the body, or for an LLM run without any the default synthetic
// prompts; and, for a dataset or files, what they held and skipped.
func newSource(s Spec) (datasets.Source, *datasets.Report, error) {
	var (
		src  datasets.Source
		rep  *datasets.Report
		err  error
		body []byte
	)
	switch {
	case s.DataFile != "":
		src, rep, err = datasets.Files(s.DataFile, datasets.FileOptions{MultiLine: s.MultiLine, Random: s.DataOrder == rundir.OrderRandom, Seed: s.Seed})
	case s.DataBase64 != "":
		body, err = datasets.Base64(s.DataBase64)
		err = wrap("--data-base64", err)
	case s.BodyFile != "":
		body, err = os.ReadFile(s.BodyFile)
		err = wrap("--body", err)
	case s.Body != "":
		body = []byte(s.Body)
	case s.Dataset != "" || s.API.LLM():
		name := s.Dataset
		if name == "" {
			name = DefaultDataset
		}
		src, rep, err = datasets.Open(name, s.Seed)
	}
	if err != nil {
		return nil, nil, err
	}
	if src == nil {
		src = datasets.Repeat(body)
	}
	return src, rep, nil
}

// wrap prefixes err, when there is one, with the flag it came from.
func wrap(flag string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	return nil
}

// makeRunDir creates the run directory. A default name is made unique; an
// explicit one must not hold a previous run.
func makeRunDir(out string) (string, error) {
	if out == "" {
		base := filepath.Join("runs", time.Now().Format("20060102-150405"))
		out = base
		for i := 2; ; i++ {
			if _, err := os.Stat(out); errors.Is(err, os.ErrNotExist) {
				break
			}
			out = base + "-" + strconv.Itoa(i)
		}
	} else if _, err := os.Stat(filepath.Join(out, rundir.RunJSON)); err == nil {
		return "", fmt.Errorf("%s already holds a run; choose another --out", out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("cannot create run directory: %v", err)
	}
	return out, nil
}
