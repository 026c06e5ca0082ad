package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/capfinder/capfinder/controller"
)

// stage is one stage of a load profile: a constant rate, a linear ramp
// from one rate to another, or a staircase of Steps equal steps between
// them.
type stage struct {
	Name     string  `json:"name,omitempty"`
	Duration seconds `json:"duration"`
	Rate     float64 `json:"rate,omitempty"`
	From     float64 `json:"from,omitempty"`
	To       float64 `json:"to,omitempty"`
	Steps    int     `json:"steps,omitempty"`
}

// minStage is the shortest stage, or step of a staircase, a profile may
// plan: shorter ones are over before a request's answer says anything.
const minStage = 100 * time.Millisecond

// seconds is a duration written as "90s", "2m" or a number of seconds.
type seconds time.Duration

func (s *seconds) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case float64:
		*s = seconds(v * float64(time.Second))
		return nil
	case string:
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("duration %q: want e.g. \"90s\", \"2m\" or a number of seconds", v)
		}
		*s = seconds(d)
		return nil
	}
	return fmt.Errorf("duration %s: want e.g. \"90s\", \"2m\" or a number of seconds", b)
}

func (s seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(s).String())), nil
}

// readProfile reads a load profile: {"stages": [...]}. Each stage has a
// duration and either "rate" or "from" and "to", with "steps" for a
// staircase instead of a ramp.
func readProfile(path string) ([]stage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--profile: %w", err)
	}
	var p struct {
		Stages []stage `json:"stages"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("--profile %s: %s", path, jsonError(data, err))
	}
	if len(p.Stages) == 0 {
		return nil, fmt.Errorf("--profile %s: no stages; e.g. {\"stages\": [{\"duration\": \"1m\", \"from\": 10, \"to\": 100}]}", path)
	}
	for i := range p.Stages {
		st := &p.Stages[i]
		if st.Name == "" {
			st.Name = fmt.Sprintf("stage%d", i+1)
		}
		if err := st.check(); err != nil {
			return nil, fmt.Errorf("--profile %s: stage %d (%s): %v", path, i+1, st.Name, err)
		}
	}
	return p.Stages, nil
}

func (st *stage) check() error {
	ramp := st.From != 0 || st.To != 0
	bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) || x < 0 }
	switch {
	case st.Duration <= 0:
		return errors.New("needs a positive duration")
	case time.Duration(st.Duration) < minStage:
		return fmt.Errorf("lasts %v, under the %v a stage or a step of its staircase needs", time.Duration(st.Duration), minStage)
	case bad(st.Rate) || bad(st.From) || bad(st.To):
		return errors.New("rates must be finite and not negative")
	case ramp && st.Rate != 0:
		return errors.New(`give "rate" for a constant stage or "from" and "to" for a ramp, not both`)
	case !ramp && st.Rate == 0:
		return errors.New(`needs "rate", or "from" and "to"`)
	case ramp && st.To == 0:
		return errors.New(`a ramp must end above 0/s ("to")`)
	case st.Steps < 0 || (st.Steps > 0 && !ramp):
		return errors.New(`"steps" makes a staircase from "from" to "to" and must be positive`)
	case st.Steps > 0 && st.From == 0:
		return errors.New(`a staircase must start above 0/s ("from")`)
	case st.Steps > 0 && time.Duration(st.Duration)/time.Duration(st.Steps) < minStage:
		return fmt.Errorf("%d steps in %v last under the %v a step needs", st.Steps, time.Duration(st.Duration), minStage)
	}
	return nil
}

// plan turns stages into controller steps of at most maxStep each, so a
// long stage is judged, and plotted, in pieces; a ramp's pieces join
// into one line.
func plan(stages []stage, maxStep time.Duration) []controller.Decision {
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

// total is how long the stages last together.
func total(stages []stage) time.Duration {
	var t time.Duration
	for _, st := range stages {
		t += time.Duration(st.Duration)
	}
	return t
}
