package compare_test

import (
	"os"

	"github.com/capfinder/capfinder/analysis/compare"
	"github.com/capfinder/capfinder/probe/rundir"
)

// A candidate whose capacity range lies below the baseline's, beyond the
// noise floor, regressed.
func ExampleCompare() {
	at := func(dir string, lo, hi float64) compare.Run {
		return compare.Run{Dir: dir, Summary: rundir.Summary{Capacity: rundir.Capacity{QPS: lo, Low: lo, High: hi}}}
	}
	c, _ := compare.Compare([]compare.Run{at("runs/base", 100, 104), at("runs/new", 75, 78)}, compare.Options{FailOnRegression: 0.05})
	c.WriteText(os.Stdout)
	// Output:
	// best: runs/base (the highest capacity no other run beats significantly)
	// REGRESSED: runs/new, capacity -25.0 % against runs/base, beyond the threshold and the noise
	//
	// runs/new against runs/base:
	//   metric        baseline [range]  candidate [range]   change  verdict
	//   capacity_qps  100 [96, 108.2]   75 [72, 81.12]     -25.0 %  worse
}
