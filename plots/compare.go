package plots

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/analysis/compare"
	"github.com/capfinder/capfinder/probe/rundir"
)

// RenderComparison draws the runs' curves over one another into dir:
// latency and throughput against offered load, time to first token for
// runs that streamed, and the SLO frontiers. Paths are relative to dir's
// parent, as Render's.
func RenderComparison(dir string, runs []compare.Run) ([]analysis.Figure, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("plots: %w", err)
	}
	// step reads a summary step's figure; 0 leaves the step out.
	type step func(rundir.SummaryStep) float64
	overlay := func(title, x, y string, fx, fy step) *plot.Plot {
		p := newPlot(title, x, y)
		for i, r := range runs {
			var xys plotter.XYs
			for _, s := range r.Summary.Steps {
				if a, b := fx(s), fy(s); a > 0 && b > 0 {
					xys = append(xys, plotter.XY{X: a, Y: b})
				}
			}
			sort.Slice(xys, func(i, j int) bool { return xys[i].X < xys[j].X })
			if len(xys) > 0 {
				addRun(p, i, r, xys)
			}
		}
		p.X.Min, p.Y.Min = 0, 0
		return p
	}
	offered := func(s rundir.SummaryStep) float64 { return s.OfferedQPS }
	figs := []figure{
		{"latency", "p99 latency versus offered load, each run a line (the baseline dashed)",
			single(overlay("p99 latency", "offered load (req/s)", "ms", offered, func(s rundir.SummaryStep) float64 { return s.P99Ms }))},
		{"throughput", "Achieved versus offered throughput, each run a line",
			single(overlay("Achieved throughput", "offered load (req/s)", "req/s", offered, func(s rundir.SummaryStep) float64 { return s.AchievedQPS }))},
	}
	for _, r := range runs {
		if r.Summary.Tokens != nil {
			figs = append(figs, figure{"ttft", "p99 time to first token versus offered load, each run a line",
				single(overlay("p99 time to first token", "offered load (req/s)", "ms", offered, func(s rundir.SummaryStep) float64 { return s.TTFTP99Ms }))})
			break
		}
	}
	figs = append(figs, figure{"frontier", "The SLO frontiers: each run's capacity at every limit of the ladder (steps judged again)", single(frontiers(runs))})
	return saveAll(dir, figs)
}

// addRun draws run i's points as a line, the baseline's dashed.
func addRun(p *plot.Plot, i int, r compare.Run, xys plotter.XYs) {
	c := palette[i%len(palette)]
	ln, sc := line(xys, c, i == 0), points(xys, c)
	p.Add(ln, sc)
	name := r.Name
	if name == "" {
		name = filepath.Base(r.Dir)
	}
	p.Legend.Add(name, ln, sc)
}

// frontiers draws each run's capacity against the limits of its ladder.
func frontiers(runs []compare.Run) *plot.Plot {
	p := newPlot("SLO frontier", "limit (ms)", "capacity (req/s)")
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	seen := map[float64]bool{}
	drawn := false
	for i, r := range runs {
		var xys plotter.XYs
		for _, f := range r.Summary.Frontier {
			if !seen[f.LimitMs] {
				seen[f.LimitMs] = true
				ticks = append(ticks, plot.Tick{Value: f.LimitMs, Label: trim(f.LimitMs)})
			}
			if f.CapacityQPS > 0 {
				xys = append(xys, plotter.XY{X: f.LimitMs, Y: f.CapacityQPS})
			}
		}
		if len(xys) > 0 {
			addRun(p, i, r, xys)
			drawn = true
		}
	}
	if !drawn {
		return note(newPlot("SLO frontier", "limit (ms)", "capacity (req/s)"), "no run has one")
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min = 0
	return p
}
