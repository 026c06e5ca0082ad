package plots

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/probe/rundir"
)

// streamed reports whether a run carries stream timings or token counts,
// which earn it the streaming and token figures.
func streamed(a *analysis.Analysis) bool {
	if a.Run == nil {
		return false
	}
	if a.Run.Streamed > 0 {
		return true
	}
	for _, s := range a.Run.Steps {
		if s.OutputTokens > 0 {
			return true
		}
	}
	return false
}

// load is the x axis of a figure against load: the open-loop steps by
// offered rate or, in a run without any, the closed-loop steps by
// concurrency.
type load struct {
	steps []*rundir.StepStats
	x     func(*rundir.StepStats) float64
	label string
	open  bool
}

func loadAxis(a *analysis.Analysis) load {
	if steps := openLoop(a); len(steps) > 0 {
		return load{steps, func(s *rundir.StepStats) float64 { return s.Offered }, offeredLabel(a), true}
	}
	var steps []*rundir.StepStats
	if a.Run != nil {
		for _, s := range a.Run.Steps {
			if s.Concurrency > 0 && s.Samples > 0 {
				steps = append(steps, s)
			}
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].Concurrency < steps[j].Concurrency })
	return load{steps, func(s *rundir.StepStats) float64 { return float64(s.Concurrency) }, "concurrency", false}
}

// curve is one line of a figure against load.
type curve struct {
	name string
	y    func(*rundir.StepStats) float64
}

// quantileMs is the q quantile of a step's histogram h, in milliseconds.
func quantileMs(h func(*rundir.StepStats) *hdrhistogram.Histogram, q float64) func(*rundir.StepStats) float64 {
	return func(s *rundir.StepStats) float64 { return float64(rundir.Quantile(h(s), q)) / 1e6 }
}

// against draws each series against the load axis, with a dashed SLO
// line at slo when it is positive and the capacity marked when the axis
// is the offered rate.
func against(p *plot.Plot, l load, a *analysis.Analysis, ss []curve, slo float64, sloLabel string) {
	top, maxX := 0.0, 0.0
	for i, se := range ss {
		var xys plotter.XYs
		for _, s := range l.steps {
			y := se.y(s)
			xys = append(xys, plotter.XY{X: l.x(s), Y: y})
			top, maxX = math.Max(top, y), math.Max(maxX, l.x(s))
		}
		c := palette[i%len(palette)]
		ln, sc := line(xys, c, false), points(xys, c)
		p.Add(ln, sc)
		p.Legend.Add(se.name, ln, sc)
	}
	if slo > 0 {
		ln := line(plotter.XYs{{X: 0, Y: slo}, {X: maxX, Y: slo}}, red, true)
		p.Add(ln)
		p.Legend.Add(sloLabel, ln)
		top = math.Max(top, slo)
	}
	if c := a.Summary.Capacity.QPS; c > 0 && l.open {
		vline(p, c, 0, top, palette[2], fmt.Sprintf("capacity %.4g/s", c))
	}
	p.X.Min, p.Y.Min = 0, 0
}

// stack draws plots one above the other, sharing the x axis.
func stack(ps ...*plot.Plot) func(draw.Canvas) {
	for _, p := range ps {
		p.Title.TextStyle.Font.Size = vg.Points(11)
	}
	rows := make([][]*plot.Plot, len(ps))
	for i, p := range ps {
		rows[i] = []*plot.Plot{p}
	}
	return func(c draw.Canvas) {
		data := c
		data.Max.X -= legendWidth(c, ps...)
		cells := plot.Align(rows, draw.Tiles{Rows: len(ps), Cols: 1, PadY: vg.Points(4), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}, data)
		for i, p := range ps {
			cell := cells[i][0]
			beside(draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{Min: cell.Min, Max: vg.Point{X: c.Max.X, Y: cell.Max.Y}}}, cell, p, func(p *plot.Plot) { p.Draw(cell) })
		}
	}
}

// offeredLabel names the offered load's axis: conversations started a
// second in a multi-turn run, requests a second otherwise.
func offeredLabel(a *analysis.Analysis) string {
	if a.Summary.Conversations != nil {
		return "offered load (conversations/s)"
	}
	return "offered load (req/s)"
}

// noSteps stacks ps, each saying there is nothing to draw.
func noSteps(ps ...*plot.Plot) func(draw.Canvas) {
	for _, p := range ps {
		note(p, "no steps")
	}
	return stack(ps...)
}

// streaming draws the stream latencies against load: time to first token
// (or event) above, time per output token and each request's longest gap
// between tokens below, each with its SLO.
func streaming(a *analysis.Analysis) func(draw.Canvas) {
	l := loadAxis(a)
	lim := a.Summary.Limits
	q := lim.RTQuantile
	if !(q > 0 && q < 1) {
		q = 0.99
	}
	pq := "p" + trim(100*q)
	ttft := newPlot("Time to first token or event", "", "ms")
	tpot := newPlot("Time per output token, and the longest gap between tokens", l.label, "ms")
	if len(l.steps) == 0 {
		return noSteps(ttft, tpot)
	}
	first := func(s *rundir.StepStats) *hdrhistogram.Histogram { return s.TTFT }
	per := func(s *rundir.StepStats) *hdrhistogram.Histogram { return s.TPOT }
	gap := func(s *rundir.StepStats) *hdrhistogram.Histogram { return s.ITL }
	against(ttft, l, a, []curve{{"TTFT p50", quantileMs(first, 0.5)}, {"TTFT " + pq, quantileMs(first, q)}},
		lim.MaxTTFTMs, fmt.Sprintf("SLO TTFT %s ≤ %g ms", pq, lim.MaxTTFTMs))
	against(tpot, l, a, []curve{{"TPOT p50", quantileMs(per, 0.5)}, {"TPOT " + pq, quantileMs(per, q)}, {"longest gap " + pq, quantileMs(gap, q)}},
		lim.MaxTPOTMs, fmt.Sprintf("SLO TPOT %s ≤ %g ms", pq, lim.MaxTPOTMs))
	return stack(ttft, tpot)
}

// tokens draws what the load earned: output tokens per second above;
// completed requests and goodput — the requests that met every limit —
// per second below.
func tokens(a *analysis.Analysis) func(draw.Canvas) {
	l := loadAxis(a)
	rate := newPlot("Output tokens per second", "", "tokens/s")
	good := newPlot("Throughput and goodput (requests within every limit)", l.label, "req/s")
	if len(l.steps) == 0 {
		return noSteps(rate, good)
	}
	against(rate, l, a, []curve{{"output tokens/s", (*rundir.StepStats).OutputRate}}, 0, "")
	against(good, l, a, []curve{{"completed", (*rundir.StepStats).Achieved}, {"goodput", (*rundir.StepStats).Goodput}}, 0, "")
	if l.open {
		m := l.x(l.steps[len(l.steps)-1])
		ref := line(plotter.XYs{{X: 0, Y: 0}, {X: m, Y: m}}, grey, true)
		ref.Width = vg.Points(1)
		good.Add(ref)
		good.Legend.Add("= offered", ref)
	}
	return stack(rate, good)
}
