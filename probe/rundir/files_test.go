package rundir

import (
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The answer is readable by whoever may read the run's parts: a CI
// collector running as another user reads summary.json as it reads the
// Parquet.
func TestWrittenFilesAreReadableByOthers(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, SummaryJSON)
	if err := WriteJSON(path, Summary{Status: "converged"}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("summary.json has mode %v, want 0644 like the parts", st.Mode().Perm())
	}
	var back Summary
	if err := ReadJSON(path, &back); err != nil || back.Status != "converged" {
		t.Errorf("read back %+v, %v", back, err)
	}
}

// A value that is not a number (a fit gone wrong, a rate over no time)
// does not cost the summary: JSON has no NaN, so it is written as 0.
func TestSummaryWithNaNIsWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), SummaryJSON)
	sum := Summary{Status: "converged", Capacity: Capacity{QPS: 10, High: math.NaN()},
		Fit: &FitSummary{CapacityCI: []float64{math.Inf(-1), 12}}, Steps: []SummaryStep{{P99Ms: math.Inf(1), OfferedQPS: 5}}}
	if err := WriteJSON(path, sum); err != nil {
		t.Fatal(err)
	}
	var back Summary
	if err := ReadJSON(path, &back); err != nil {
		t.Fatal(err)
	}
	if back.Capacity.QPS != 10 || back.Capacity.High != 0 || back.Steps[0].P99Ms != 0 || back.Steps[0].OfferedQPS != 5 || back.Fit.CapacityCI[0] != 0 || back.Fit.CapacityCI[1] != 12 {
		t.Errorf("read back %+v", back)
	}
	if !math.IsNaN(sum.Capacity.High) {
		t.Error("writing changed the caller's summary")
	}
}
