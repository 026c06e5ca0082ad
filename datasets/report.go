package datasets

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Skipped is a dataset entry left out, and why.
type Skipped struct {
	// File is the base name of the dataset file.
	File string
	// Line is the 1-based line where the entry starts.
	Line int
	// Reason is a short cause, such as "too long" or "no reply".
	Reason string
}

// Report says what a dataset file gave: the entries loaded and those
// skipped.
type Report struct {
	// Name is the kind and file of the dataset, e.g. "sharegpt data.json".
	Name string
	// Loaded counts the entries kept.
	Loaded int
	// Skipped lists the entries left out, in file order.
	Skipped []Skipped
}

// Counts returns the skipped entries per reason.
func (r *Report) Counts() map[string]int {
	m := map[string]int{}
	for _, s := range r.Skipped {
		m[s.Reason]++
	}
	return m
}

// String is the report in one line, e.g. "sharegpt data.json: 980
// entries, 20 skipped (too long: 12, no reply: 8; first at
// data.json:345)", the commonest reasons first.
func (r *Report) String() string {
	s := fmt.Sprintf("%s: %d entries", r.Name, r.Loaded)
	if len(r.Skipped) == 0 {
		return s
	}
	counts := r.Counts()
	reasons := make([]string, 0, len(counts))
	for k := range counts {
		reasons = append(reasons, k)
	}
	slices.SortFunc(reasons, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), strings.Compare(a, b))
	})
	parts := make([]string, len(reasons))
	for i, k := range reasons {
		parts[i] = fmt.Sprintf("%s: %d", k, counts[k])
	}
	first := r.Skipped[0]
	return fmt.Sprintf("%s, %d skipped (%s; first at %s:%d)", s, len(r.Skipped), strings.Join(parts, ", "), first.File, first.Line)
}
