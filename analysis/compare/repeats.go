package compare

import (
	"math"
	"slices"
)

// Repeats are one target's runs made again with the same settings: their
// capacities and how far apart they lie.
type Repeats struct {
	Name       string    `json:"name"`
	Capacities []float64 `json:"capacities"`
	Median     float64   `json:"median"`
	// Spread is (max − min) / median.
	Spread float64 `json:"spread"`
}

// Repeat gathers one target's repeated runs, and returns the run of the
// median capacity (the lower of the middle two): the one the comparison
// sets against the other targets.
func Repeat(name string, runs []Run) (Repeats, Run) {
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b Run) int {
		return cmpFloat(a.Summary.Capacity.QPS, b.Summary.Capacity.QPS)
	})
	mid := sorted[(len(sorted)-1)/2]
	r := Repeats{Name: name, Median: mid.Summary.Capacity.QPS}
	for _, run := range runs {
		r.Capacities = append(r.Capacities, run.Summary.Capacity.QPS)
	}
	if lo, hi := sorted[0].Summary.Capacity.QPS, sorted[len(sorted)-1].Summary.Capacity.QPS; r.Median > 0 {
		r.Spread = (hi - lo) / r.Median
	}
	return r, mid
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MinNoise is the least noise floor a measurement sets: the search's
// precision, as a few repeats that happen to agree prove little.
const MinNoise = DefaultNoise / 2

// NoiseFloor is the run-to-run noise floor the repeats measured: the
// largest spread of any target's capacities, never below MinNoise. Each
// run's range is widened by the floor on both sides, so two runs of one
// target apart by that spread still overlap, with a margin of about two.
// ok is false when no target was run at least twice.
func NoiseFloor(reps []Repeats) (noise float64, ok bool) {
	for _, r := range reps {
		if len(r.Capacities) >= 2 {
			noise, ok = math.Max(noise, r.Spread), true
		}
	}
	return math.Max(noise, MinNoise), ok
}
