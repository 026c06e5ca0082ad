package plots

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/recorder"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/probe/rundir"
)

// synthetic is an analysis of four open-loop steps on an M/M/1-like
// curve, the last one failing with 503s.
func synthetic() *analysis.Analysis {
	r := &analysis.Run{Timeline: analysis.Timeline{Failed: map[string][]int64{}}}
	for i, rate := range []float64{100, 400, 800, 950} {
		s := &rundir.StepStats{Step: i + 1, Offered: rate, Start: time.Duration(i) * 10 * time.Second,
			End: time.Duration(i+1) * 10 * time.Second, Latency: rundir.NewHistogram(), Errors: map[string]int64{}}
		for k := range 1000 {
			u := (float64(k) + 0.5) / 1000
			rundir.RecordNs(s.Latency, int64(-math.Log(1-u)/(1000-rate)*1e9))
		}
		s.Samples, s.Sent, s.Completed = 1000, int64(rate*10), int64(rate*10)
		r.Steps = append(r.Steps, s)
		for range 10 {
			r.Timeline.Sent = append(r.Timeline.Sent, int64(rate))
			r.Timeline.Completed = append(r.Timeline.Completed, int64(rate))
			r.Timeline.P99 = append(r.Timeline.P99, time.Duration(math.Log(100)/(1000-rate)*1e9))
		}
	}
	r.Timeline.Failed["status 503"] = make([]int64, 40)
	for i := 30; i < 40; i++ {
		r.Timeline.Failed["status 503"][i] = 20
	}
	fit := analysis.LatencyFit{S: 0.0001, A: math.Log(100), Mu: 1000}
	sum := rundir.Summary{
		Limits:     rundir.Limits{MaxRTMs: 50, RTQuantile: 0.99},
		Capacity:   rundir.Capacity{QPS: 800, Low: 800, High: 950, LimitedBy: "max_rt"},
		Knee:       rundir.Point{QPS: 700},
		Saturation: rundir.Saturation{QPS: 930, Low: 910, High: 950, OnsetQPS: 950},
	}
	return &analysis.Analysis{Run: r, Fit: &fit, Summary: sum}
}

// streamedRun adds to synthetic's steps what an LLM run records: stream
// timings that grow with load, tokens, goodput.
func streamedRun(a *analysis.Analysis) *analysis.Analysis {
	for _, s := range a.Run.Steps {
		s.TTFT, s.TPOT, s.ITL = rundir.NewHistogram(), rundir.NewHistogram(), rundir.NewHistogram()
		for k := range 1000 {
			u := (float64(k) + 0.5) / 1000
			rundir.RecordNs(s.TTFT, int64((0.05+u*s.Offered/2000)*1e9))
			rundir.RecordNs(s.TPOT, int64((0.01+u*s.Offered/1e5)*1e9))
			rundir.RecordNs(s.ITL, int64((0.02+u*s.Offered/5e4)*1e9))
		}
		s.OutputTokens = s.Completed * 128
		s.Good, s.JudgedStart, s.JudgedEnd = s.Samples*int64(1000-s.Offered)/1000, s.Start, s.End
	}
	a.Run.Streamed = 4000
	a.Summary.Limits.MaxTTFTMs, a.Summary.Limits.MaxTPOTMs = 400, 20
	return a
}

var (
	names    = []string{"latency", "throughput", "timeline", "spectrum", "errors"}
	llmNames = append(names[:len(names):len(names)], "streaming", "tokens")
)

func TestRenderWritesEveryFigure(t *testing.T) {
	checkFigures(t, synthetic(), names)
}

func TestRenderDrawsStreamsAndTokens(t *testing.T) {
	checkFigures(t, streamedRun(synthetic()), llmNames)
}

func TestRenderDrawsClosedLoopStreamsByConcurrency(t *testing.T) {
	a := streamedRun(synthetic())
	for i, s := range a.Run.Steps {
		s.Offered, s.Concurrency = 0, 8<<i
	}
	if l := loadAxis(a); len(l.steps) != 4 || l.open || l.x(l.steps[3]) != 64 {
		t.Fatalf("closed-loop axis: %d steps, open %v", len(l.steps), l.open)
	}
	checkFigures(t, a, llmNames)
}

// checkFigures renders a and checks it drew exactly the named figures,
// each a PNG of the set size with something drawn on it and an SVG with
// its fonts.
func checkFigures(t *testing.T, a *analysis.Analysis, names []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plots")
	figs, err := Render(dir, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) != len(names) {
		t.Fatalf("%d figures, want %d", len(figs), len(names))
	}
	for i, name := range names {
		if figs[i].Path != filepath.Join("plots", name+".png") || figs[i].Caption == "" {
			t.Errorf("figure %d: %+v", i, figs[i])
		}
		f, err := os.Open(filepath.Join(dir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s.png: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != 768 || b.Dy() != 480 {
			t.Errorf("%s.png is %v, want 768×480", name, b)
		}
		// A drawn figure has lines and text in several colours; a blank
		// one has one.
		colours := map[uint32]bool{}
		for y := 0; y < img.Bounds().Dy(); y += 2 {
			for x := 0; x < img.Bounds().Dx(); x += 2 {
				r, g, b, _ := img.At(x, y).RGBA()
				colours[r>>8<<16|g>>8<<8|b>>8] = true
			}
		}
		if len(colours) < 8 {
			t.Errorf("%s.png has %d colours: blank", name, len(colours))
		}
		svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "@font-face") {
			t.Errorf("%s.svg is not an SVG with its fonts embedded", name)
		}
	}
}

func TestRenderEmptyAnalysis(t *testing.T) {
	figs, err := Render(t.TempDir(), &analysis.Analysis{Run: &analysis.Run{}})
	if err != nil || len(figs) != len(names) {
		t.Fatalf("%d figures, %v", len(figs), err)
	}
}

func BenchmarkRender(b *testing.B) {
	a := synthetic()
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(dir, a); err != nil {
			b.Fatal(err)
		}
	}
}

// Latency spanning decades is drawn on a log axis, which keeps what lies
// below the knee visible; a narrow span stays linear.
func TestLatencyLogAxisWhereItSpansDecades(t *testing.T) {
	a := synthetic() // p50 0.7 ms at 100/s, p99 92 ms at 950/s
	if _, ok := latency(a).Y.Scale.(plot.LogScale); !ok {
		t.Error("latency from 0.7 to 92 ms is not on a log axis")
	}
	a.Run.Steps = a.Run.Steps[2:] // 800 and 950/s: 3.5 to 92 ms
	if _, ok := latency(a).Y.Scale.(plot.LogScale); ok {
		t.Error("latency within a decade and a half is on a log axis")
	}
}

// TestStackedLegendsBesideTheData checks that a stacked figure puts its
// legends right of every tick label, where they cannot hide a curve, and
// that a conversation run's load axis is in conversations a second.
func TestStackedLegendsBesideTheData(t *testing.T) {
	a := streamedRun(synthetic())
	a.Summary.Conversations = &rundir.Conversations{}
	rec := new(recorder.Canvas)
	streaming(a)(draw.Canvas{Canvas: rec, Rectangle: vg.Rectangle{Max: vg.Point{X: width, Y: height}}})
	legend := map[string]bool{"TTFT p50": true, "TTFT p99": true, "TPOT p50": true, "longest gap p99": true}
	var ticks, left vg.Length
	left = width
	found, axis := 0, false
	for _, act := range rec.Actions {
		s, ok := act.(*recorder.FillString)
		if !ok {
			continue
		}
		switch {
		case legend[s.String]:
			found++
			left = min(left, s.Point.X)
		case s.String == "offered load (conversations/s)":
			axis = true
		case strings.Trim(s.String, "0123456789.") == "":
			ticks = max(ticks, s.Point.X)
		}
	}
	if found != len(legend) || !axis {
		t.Fatalf("drawn: %d of %d legend entries, conversations axis %v", found, len(legend), axis)
	}
	if left <= ticks {
		t.Errorf("a legend entry starts at x=%v, left of a tick label at x=%v: it is on the data", left, ticks)
	}
}
