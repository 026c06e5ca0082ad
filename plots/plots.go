package plots

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/probe/rundir"
)

// Size and resolution of every figure.
const (
	width  = 8 * vg.Inch
	height = 5 * vg.Inch
	dpi    = 96
)

// palette is the one set of colours every figure draws with.
var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, // orange
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // red
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, // purple
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, // brown
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}, // grey
}

var (
	red  = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	grey = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}
)

// A figure draws itself onto a canvas: one plot, or several aligned.
type figure struct {
	name, caption string
	draw          func(draw.Canvas)
}

// Render draws the analysis' figures into dir as NAME.png and NAME.svg
// (fonts embedded, so the SVG is portable) and returns them as report
// figures, paths relative to dir's parent — the run directory when dir is
// RUN_DIR/plots. Empty data gives a figure that says so, never an error.
func Render(dir string, a *analysis.Analysis) ([]analysis.Figure, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("plots: %w", err)
	}
	figs := []figure{
		{"latency", "Latency quantiles versus offered load, with the fitted curve, the SLO, knee, saturation and capacity", single(latency(a))},
		{"throughput", "Achieved versus offered throughput per step", single(throughput(a))},
		{"timeline", "The run second by second: requests sent and completed, p99 latency, failures", timeline(a)},
		{"spectrum", "Latency percentile spectrum of every step", single(spectrum(a))},
		{"errors", "Failures per second by class", single(errorsPlot(a))},
	}
	if streamed(a) {
		figs = append(figs,
			figure{"streaming", "Time to first token (or event), time per output token and the longest gap between tokens versus load, with their SLOs", streaming(a)},
			figure{"tokens", "Output tokens per second, throughput and goodput versus load", tokens(a)})
	}
	if served(a) {
		figs = append(figs, figure{"server", "The server's own metrics versus load: requests waiting and running, KV-cache use and preemptions, beside the time to first token", serverFigure(a)})
	}
	return saveAll(dir, figs)
}

// saveAll writes the figures into dir and returns them for a report,
// paths relative to dir's parent.
func saveAll(dir string, figs []figure) ([]analysis.Figure, error) {
	var out []analysis.Figure
	for _, f := range figs {
		if err := save(filepath.Join(dir, f.name), f.draw); err != nil {
			return nil, err
		}
		out = append(out, analysis.Figure{Path: filepath.Join(filepath.Base(dir), f.name+".png"), Caption: f.caption})
	}
	return out, nil
}

// single draws a plot with its legend in a band at its right: beside the
// data, never on it.
func single(p *plot.Plot) func(draw.Canvas) {
	return func(c draw.Canvas) {
		w := legendWidth(c, p)
		if w == 0 {
			p.Draw(c)
			return
		}
		data := c
		data.Max.X -= w
		beside(c, data, p, func(p *plot.Plot) { p.Draw(data) })
	}
}

// legendWidth is the width of the band the widest of ps's legends needs,
// or 0 when none has entries.
func legendWidth(c draw.Canvas, ps ...*plot.Plot) vg.Length {
	var w vg.Length
	for _, p := range ps {
		r := p.Legend.Rectangle(c)
		if r.Max.Y-r.Min.Y > 0 {
			w = max(w, r.Max.X-r.Min.X+vg.Points(12))
		}
	}
	return w
}

// beside draws p by drawFn without its legend, then the legend in the band
// of c to the right of data, level with the top of p's data.
func beside(c, data draw.Canvas, p *plot.Plot, drawFn func(*plot.Plot)) {
	leg := p.Legend
	p.Legend = plot.NewLegend()
	defer func() { p.Legend = leg }()
	drawFn(p)
	band := data
	band.Min.X = data.Max.X + vg.Points(6)
	band.Max.X = c.Max.X
	band.Max.Y -= p.Title.TextStyle.Height(p.Title.Text) + vg.Points(8)
	leg.Top, leg.Left = true, true
	leg.Draw(band)
}

// save writes one figure as PNG and SVG.
func save(base string, drawFig func(draw.Canvas)) error {
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	drawFig(draw.New(img))
	if err := writeTo(base+".png", vgimg.PngCanvas{Canvas: img}); err != nil {
		return err
	}
	svg := vgsvg.NewWith(vgsvg.UseWH(width, height), vgsvg.EmbedFonts(true))
	drawFig(draw.New(svg))
	return writeTo(base+".svg", svg)
}

func writeTo(path string, w io.WriterTo) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plots: writing %s: %w", path, err)
	}
	return nil
}

// newPlot returns a plot in the common style.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.X.Label.TextStyle.Font.Size = vg.Points(11)
	p.Y.Label.TextStyle.Font.Size = vg.Points(11)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

// note marks a plot with nothing to show.
func note(p *plot.Plot, text string) *plot.Plot {
	p.Title.Text += " — " + text
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	return p
}

func line(xys plotter.XYs, c color.Color, dashed bool) *plotter.Line {
	l, _ := plotter.NewLine(xys)
	l.Color = c
	l.Width = vg.Points(1.6)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	return l
}

func points(xys plotter.XYs, c color.Color) *plotter.Scatter {
	s, _ := plotter.NewScatter(xys)
	s.Color = c
	s.Radius = vg.Points(2.5)
	return s
}

// vline marks a load on the x axis from bottom to top.
func vline(p *plot.Plot, x, bottom, top float64, c color.Color, label string) {
	l := line(plotter.XYs{{X: x, Y: bottom}, {X: x, Y: top}}, c, true)
	l.Width = vg.Points(1)
	p.Add(l)
	p.Legend.Add(label, l)
}

func ms(q float64, s *rundir.StepStats) float64 {
	return float64(rundir.Quantile(s.Latency, q)) / 1e6
}

// openLoop returns the open-loop steps with judged samples, by load.
func openLoop(a *analysis.Analysis) []*rundir.StepStats {
	var out []*rundir.StepStats
	if a.Run == nil {
		return nil
	}
	for _, s := range a.Run.Steps {
		if s.Offered > 0 && s.Samples > 0 {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Offered < out[j].Offered })
	return out
}

func latency(a *analysis.Analysis) *plot.Plot {
	q := a.Summary.Limits.RTQuantile
	p := newPlot("Latency versus load", offeredLabel(a), "latency (ms)")
	steps := openLoop(a)
	if len(steps) == 0 {
		return note(p, "no open-loop steps")
	}
	qs := []float64{0.5, 0.9, 0.99}
	if q > 0 && q != 0.5 && q != 0.9 && q != 0.99 {
		qs = append(qs, q)
	}
	top, maxX, low := 0.0, 0.0, math.Inf(1)
	for _, qq := range qs {
		for _, s := range steps {
			if v := ms(qq, s); v > 0 {
				low = math.Min(low, v)
			}
		}
	}
	// Latency that spans decades gets a log axis, which does not flatten
	// what lies below the knee.
	bottom := 0.0
	if logY := false; !math.IsInf(low, 1) {
		for _, s := range steps {
			logY = logY || ms(qs[len(qs)-1], s) > 100*low || ms(0.99, s) > 100*low
		}
		if logY {
			bottom = low / 1.5
			p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
			p.Y.Label.Text = "latency (ms, log scale)"
		}
	}
	for i, qq := range qs {
		var xys plotter.XYs
		for _, s := range steps {
			if v := ms(qq, s); v > 0 {
				xys = append(xys, plotter.XY{X: s.Offered, Y: v})
			}
			top, maxX = math.Max(top, ms(qq, s)), math.Max(maxX, s.Offered)
		}
		if len(xys) == 0 {
			continue
		}
		c := palette[i%len(palette)]
		l, sc := line(xys, c, false), points(xys, c)
		p.Add(l, sc)
		p.Legend.Add("p"+trim(100*qq), l, sc)
	}
	if f := a.Fit; f != nil {
		var xys plotter.XYs
		hi := math.Min(maxX, f.Mu*0.999)
		for i := 0; i <= 200; i++ {
			x := steps[0].Offered + (hi-steps[0].Offered)*float64(i)/200
			if y := f.At(x) * 1e3; y <= 1.5*top {
				xys = append(xys, plotter.XY{X: x, Y: y})
			}
		}
		if len(xys) > 1 {
			l := line(xys, grey, false)
			l.Width = vg.Points(1)
			p.Add(l)
			p.Legend.Add("fit: S + A/(μ − λ) on p"+trim(100*q), l)
		}
	}
	if slo := a.Summary.Limits.MaxRTMs; slo > 0 {
		l := line(plotter.XYs{{X: 0, Y: slo}, {X: maxX, Y: slo}}, red, true)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("SLO p%s ≤ %g ms", trim(100*q), slo), l)
		top = math.Max(top, slo)
	}
	if k := a.Summary.Knee.QPS; k > 0 {
		vline(p, k, bottom, top, palette[4], fmt.Sprintf("knee %.4g/s", k))
	}
	if s := a.Summary.Saturation.OnsetQPS; s > 0 {
		vline(p, s, bottom, top, palette[5], fmt.Sprintf("saturation onset %.4g/s offered", s))
	}
	if c := a.Summary.Capacity.QPS; c > 0 {
		vline(p, c, bottom, top, palette[2], fmt.Sprintf("capacity %.4g/s", c))
	}
	p.Y.Min = bottom
	return p
}

func throughput(a *analysis.Analysis) *plot.Plot {
	p := newPlot("Achieved versus offered throughput", "offered (req/s)", "achieved (req/s)")
	steps := openLoop(a)
	if len(steps) == 0 {
		return note(p, "no open-loop steps")
	}
	var xys plotter.XYs
	maxX := 0.0
	for _, s := range steps {
		xys = append(xys, plotter.XY{X: s.Offered, Y: s.Achieved()})
		maxX = math.Max(maxX, math.Max(s.Offered, s.Achieved()))
	}
	ref := line(plotter.XYs{{X: 0, Y: 0}, {X: maxX, Y: maxX}}, grey, true)
	ref.Width = vg.Points(1)
	l, sc := line(xys, palette[0], false), points(xys, palette[0])
	p.Add(ref, l, sc)
	p.Legend.Add("achieved", l, sc)
	p.Legend.Add("achieved = offered", ref)
	if sat := a.Summary.Saturation; sat.QPS > 0 {
		// The plateau the target sustained, as a throughput, with its
		// interval; where it began, as an offer.
		plateau := line(plotter.XYs{{X: 0, Y: sat.QPS}, {X: maxX, Y: sat.QPS}}, palette[5], true)
		p.Add(plateau)
		p.Legend.Add(fmt.Sprintf("plateau %.4g/s (%.4g–%.4g)", sat.QPS, sat.Low, sat.High), plateau)
		vline(p, sat.OnsetQPS, 0, maxX, palette[4], fmt.Sprintf("onset %.4g/s offered", sat.OnsetQPS))
	}
	p.X.Min, p.Y.Min = 0, 0
	return p
}

// timeline stacks three panels sharing the time axis.
func timeline(a *analysis.Analysis) func(draw.Canvas) {
	tl := analysis.Timeline{}
	if a.Run != nil {
		tl = a.Run.Timeline
	}
	rates := newPlot("Requests per second", "", "req/s")
	lat := newPlot("p99 latency of the requests ending each second", "", "ms")
	fails := newPlot("Failures per second", "time since start (s)", "failures/s")
	series := func(v []int64) plotter.XYs {
		xys := make(plotter.XYs, len(v))
		for i, n := range v {
			xys[i] = plotter.XY{X: float64(i), Y: float64(n)}
		}
		return xys
	}
	if len(tl.Sent) == 0 {
		note(rates, "no requests")
		note(lat, "no requests")
		note(fails, "no requests")
	} else {
		s, c := line(series(tl.Sent), palette[0], false), line(series(tl.Completed), palette[1], false)
		rates.Add(s, c)
		rates.Legend.Add("sent (by schedule)", s)
		rates.Legend.Add("completed", c)
		p99 := make(plotter.XYs, 0, len(tl.P99))
		for i, d := range tl.P99 {
			if d > 0 {
				p99 = append(p99, plotter.XY{X: float64(i), Y: float64(d) / 1e6})
			}
		}
		if len(p99) > 1 {
			lat.Add(line(p99, palette[3], false))
		}
		total := make([]int64, len(tl.Sent))
		for _, v := range tl.Failed {
			for i := range min(len(v), len(total)) {
				total[i] += v[i]
			}
		}
		fails.Add(line(series(total), red, false))
		peak := int64(1)
		for _, n := range total {
			peak = max(peak, n)
		}
		fails.Y.Max = float64(peak)
		for _, p := range []*plot.Plot{rates, lat, fails} {
			p.X.Min, p.X.Max, p.Y.Min = 0, float64(len(tl.Sent)), 0
		}
	}
	return stack(rates, lat, fails)
}

// nines are the spectrum's quantiles, plotted at −log10(1 − q).
var nines = []float64{0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999}

func spectrum(a *analysis.Analysis) *plot.Plot {
	p := newPlot("Latency percentile spectrum per step", "percentile", "latency (ms)")
	if a.Run == nil || len(a.Run.Steps) == 0 {
		return note(p, "no steps")
	}
	steps := a.Run.Steps
	// A legend line per step up to eight; beyond, every k-th.
	every := max(1, (len(steps)+7)/8)
	for i, s := range steps {
		if s.Latency == nil || s.Latency.TotalCount() == 0 {
			continue
		}
		var xys plotter.XYs
		for _, q := range nines {
			xys = append(xys, plotter.XY{X: -math.Log10(1 - q), Y: ms(q, s)})
		}
		l := line(xys, ramp(i, len(steps)), false)
		p.Add(l)
		if i%every == 0 || i == len(steps)-1 {
			p.Legend.Add(fmt.Sprintf("step %d (%s)", s.Step, loadLabel(s)), l)
		}
	}
	var ticks []plot.Tick
	for _, q := range nines {
		ticks = append(ticks, plot.Tick{Value: -math.Log10(1 - q), Label: trim(100 * q)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min = 0
	return p
}

func errorsPlot(a *analysis.Analysis) *plot.Plot {
	p := newPlot("Failures per second by class", "time since start (s)", "failures/s")
	if a.Run == nil || len(a.Run.Timeline.Failed) == 0 {
		return note(p, "no failures")
	}
	classes := make([]string, 0, len(a.Run.Timeline.Failed))
	for k := range a.Run.Timeline.Failed {
		classes = append(classes, k)
	}
	sort.Strings(classes)
	for i, k := range classes {
		v := a.Run.Timeline.Failed[k]
		xys := make(plotter.XYs, len(v))
		for j, n := range v {
			xys[j] = plotter.XY{X: float64(j), Y: float64(n)}
		}
		l := line(xys, palette[i%len(palette)], false)
		p.Add(l)
		p.Legend.Add(k, l)
	}
	p.X.Min, p.Y.Min = 0, 0
	return p
}

// ramp is a blue-to-red colour for step i of n: load order at a glance.
func ramp(i, n int) color.Color {
	t := 0.0
	if n > 1 {
		t = float64(i) / float64(n-1)
	}
	return color.RGBA{R: uint8(30 + 200*t), G: uint8(100 - 60*t), B: uint8(200 - 170*t), A: 0xff}
}

func loadLabel(s *rundir.StepStats) string {
	if s.Offered > 0 {
		return fmt.Sprintf("%.4g/s", s.Offered)
	}
	return fmt.Sprintf("c=%d", s.Concurrency)
}

func trim(v float64) string { return strings.TrimSuffix(fmt.Sprintf("%.4g", v), ".0") }
