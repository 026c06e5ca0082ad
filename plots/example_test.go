package plots_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/plots"
)

// Render draws every figure of an analysis, even one with nothing in it.
func ExampleRender() {
	dir, _ := os.MkdirTemp("", "capfinder-plots-")
	defer os.RemoveAll(dir)
	figs, err := plots.Render(filepath.Join(dir, "plots"), &analysis.Analysis{Run: &analysis.Run{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range figs {
		fmt.Println(f.Path)
	}
	// Output:
	// plots/latency.png
	// plots/throughput.png
	// plots/timeline.png
	// plots/spectrum.png
	// plots/errors.png
}
