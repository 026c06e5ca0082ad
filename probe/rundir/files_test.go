package rundir

import (
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
