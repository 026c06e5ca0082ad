package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
)

// ReadProfile reads a load profile: {"stages": [...]}. Each stage has a
// duration and either "rate" or "from" and "to", with "steps" for a
// staircase instead of a ramp. Bad JSON is reported by line and column,
// a bad stage by its number and name.
func ReadProfile(path string) ([]rundir.Stage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--profile: %w", err)
	}
	var p struct {
		Stages []rundir.Stage `json:"stages"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("--profile %s: %s", path, rundir.JSONError(data, err, ""))
	}
	if len(p.Stages) == 0 {
		return nil, fmt.Errorf("--profile %s: no stages; e.g. {\"stages\": [{\"duration\": \"1m\", \"from\": 10, \"to\": 100}]}", path)
	}
	for i := range p.Stages {
		st := &p.Stages[i]
		if st.Name == "" {
			st.Name = fmt.Sprintf("stage%d", i+1)
		}
		if err := st.Check(); err != nil {
			return nil, fmt.Errorf("--profile %s: stage %d (%s): %v", path, i+1, st.Name, err)
		}
	}
	return p.Stages, nil
}

// plan turns stages into controller steps of at most maxStep each, so a
// long stage is judged, and plotted, in pieces; a ramp's pieces join
// into one line.
func plan(stages []rundir.Stage, maxStep time.Duration) []controller.Decision {
	var ds []controller.Decision
	for _, st := range stages {
		d := time.Duration(st.Duration)
		switch {
		case st.Rate > 0:
			ds = append(ds, split(st.Name, st.Rate, st.Rate, d, maxStep)...)
		case st.Steps > 0:
			for i := range st.Steps {
				r := st.From
				if st.Steps > 1 {
					r += (st.To - st.From) * float64(i) / float64(st.Steps-1)
				}
				ds = append(ds, split(st.Name, r, r, d/time.Duration(st.Steps), maxStep)...)
			}
		default:
			ds = append(ds, split(st.Name, st.From, st.To, d, maxStep)...)
		}
	}
	return ds
}

// split cuts a stretch going linearly from rate a to b over d into equal
// steps of at most maxStep.
func split(phase string, a, b float64, d, maxStep time.Duration) []controller.Decision {
	n := max(1, int((d+maxStep-1)/maxStep))
	out := make([]controller.Decision, n)
	for i := range n {
		r0 := a + (b-a)*float64(i)/float64(n)
		r1 := a + (b-a)*float64(i+1)/float64(n)
		out[i] = controller.Decision{Rate: r0, Hold: d / time.Duration(n), Phase: phase}
		if r0 != r1 {
			out[i].RateEnd = r1
		}
	}
	return out
}

// Total is how long the stages last together.
func Total(stages []rundir.Stage) time.Duration {
	var t time.Duration
	for _, st := range stages {
		t += time.Duration(st.Duration)
	}
	return t
}
