package plots

import (
	"gonum.org/v1/plot/vg/draw"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/capfinder/capfinder/analysis"
	"github.com/capfinder/capfinder/probe/rundir"
)

// served reports whether a run recorded the server's own metrics.
func served(a *analysis.Analysis) bool { return a.Run != nil && a.Run.ServerScrapes > 0 }

// serverFigure draws what the server said against load: its waiting
// queue and running batch, its KV-cache use and preemptions, and beside
// them the time to first token (or the latency) the limit was judged on.
func serverFigure(a *analysis.Analysis) func(draw.Canvas) {
	l := loadAxis(a)
	queue := newPlot("The server's queue and batch (mean over each step)", "", "requests")
	kv := newPlot("KV-cache use (largest) and preemptions per second", "", "% or /s")
	lat := newPlot("Time to first token", l.label, "ms")
	if len(l.steps) == 0 {
		return noSteps(queue, kv, lat)
	}
	role := func(r analysis.Role, top bool, scale float64) func(*rundir.StepStats) float64 {
		return func(s *rundir.StepStats) float64 {
			mean, peak, _ := r.Value(s.Server)
			if top {
				return scale * peak
			}
			return scale * mean
		}
	}
	against(queue, l, a, []curve{{"waiting", role(analysis.Waiting, false, 1)}, {"running", role(analysis.Running, false, 1)}}, 0, "")
	against(kv, l, a, []curve{{"KV cache %", role(analysis.KVCache, true, 100)}, {"preemptions/s", role(analysis.Preemptions, false, 1)}}, 0, "")
	lim := a.Summary.Limits
	q := lim.RTQuantile
	if !(q > 0 && q < 1) {
		q = 0.99
	}
	pq := "p" + trim(100*q)
	if a.Run.Streamed > 0 {
		first := quantileMs(func(s *rundir.StepStats) *hdrhistogram.Histogram { return s.TTFT }, q)
		against(lat, l, a, []curve{{"TTFT " + pq, first}}, lim.MaxTTFTMs, "SLO TTFT "+pq)
	} else {
		lat.Title.Text = "Latency"
		against(lat, l, a, []curve{{"latency " + pq, quantileMs(func(s *rundir.StepStats) *hdrhistogram.Histogram { return s.Latency }, q)}}, lim.MaxRTMs, "SLO latency "+pq)
	}
	return stack(queue, kv, lat)
}
