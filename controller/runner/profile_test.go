package runner

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzReadProfile feeds arbitrary bytes to the profile reader: it never
// panics, and a profile it accepts plans steps of positive holds and
// finite, non-negative rates that last as long as its stages.
func FuzzReadProfile(f *testing.F) {
	f.Add([]byte(`{"stages": [{"duration": "1m", "rate": 10}, {"duration": 30, "from": 0, "to": 100}, {"duration": "10s", "from": 5, "to": 50, "steps": 4}]}`))
	f.Add([]byte(`{"stages": [{"duration": "1ns", "from": 1e308, "to": 1e308, "steps": 1000000}]}`))
	f.Add([]byte(`{"stages": []}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "profile.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		stages, err := ReadProfile(p)
		if err != nil || Total(stages) > time.Hour {
			return
		}
		var held time.Duration
		for _, d := range plan(stages, 5*time.Second) {
			if d.Hold <= 0 && held < Total(stages) {
				t.Fatalf("a step of hold %v", d.Hold)
			}
			for _, r := range []float64{d.Rate, d.RateEnd} {
				if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
					t.Fatalf("a step at rate %v", r)
				}
			}
			held += d.Hold
		}
		if diff := Total(stages) - held; diff < 0 || diff > time.Duration(len(stages))*time.Microsecond {
			t.Fatalf("planned %v for stages of %v", held, Total(stages))
		}
	})
}
