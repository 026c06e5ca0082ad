package analysis

import (
	"bytes"
	"encoding/base64"
	"fmt"
	htmltemplate "html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/capfinder/capfinder/plots/chartjs"
	"github.com/capfinder/capfinder/probe/rundir"
)

// Figure is a rendered plot the report shows: its file, relative to the
// run directory, and what it shows.
type Figure struct {
	Path    string
	Caption string
}

// reportData is what both report templates read.
type reportData struct {
	S       rundir.Summary
	Meta    map[string]string
	Answer  []string
	Figures []Figure
	// Charts is the data of the HTML report's interactive charts, and
	// Script the charts' code, inlined.
	Charts chartData
	Script htmltemplate.JS
}

// chartData is what report.html's charts draw: every step, by offered
// load, and the run second by second.
type chartData struct {
	Streams bool        `json:"streams"`
	MaxRTMs float64     `json:"max_rt_ms"`
	Steps   []chartStep `json:"steps"`
	// Per second: sent, completed, failed and the p99 latency (ms) of the
	// requests that ended in it.
	Sent      []int64   `json:"sent"`
	Completed []int64   `json:"completed"`
	Failed    []int64   `json:"failed"`
	P99Ms     []float64 `json:"p99_ms"`
}

type chartStep struct {
	Offered   float64 `json:"offered"`
	Achieved  float64 `json:"achieved"`
	P50       float64 `json:"p50"`
	P90       float64 `json:"p90"`
	P99       float64 `json:"p99"`
	Max       float64 `json:"max"`
	Errors    float64 `json:"errors"`
	TTFTP50   float64 `json:"ttft_p50"`
	TTFTP99   float64 `json:"ttft_p99"`
	TPOTP99   float64 `json:"tpot_p99"`
	Verdict   string  `json:"verdict"`
	LimitedBy string  `json:"limited_by"`
}

// charts gathers the data of the HTML report's charts.
func (a *Analysis) charts() chartData {
	d := chartData{Streams: a.Run.Streamed > 0, MaxRTMs: a.Summary.Limits.MaxRTMs, Steps: []chartStep{}}
	for _, s := range a.Summary.Steps {
		if s.OfferedQPS <= 0 {
			continue
		}
		d.Steps = append(d.Steps, chartStep{Offered: s.OfferedQPS, Achieved: s.AchievedQPS, P50: s.P50Ms, P90: s.P90Ms, P99: s.P99Ms, Max: s.MaxMs,
			Errors: 100 * s.ErrorRate, TTFTP50: s.TTFTP50Ms, TTFTP99: s.TTFTP99Ms, TPOTP99: s.TPOTP99Ms, Verdict: s.Verdict, LimitedBy: s.LimitedBy})
	}
	sort.SliceStable(d.Steps, func(i, j int) bool { return d.Steps[i].Offered < d.Steps[j].Offered })
	tl := a.Run.Timeline
	d.Sent, d.Completed = tl.Sent, tl.Completed
	d.Failed = make([]int64, len(tl.Completed))
	for _, f := range tl.Failed {
		for i := range min(len(f), len(d.Failed)) {
			d.Failed[i] += f[i]
		}
	}
	for _, p := range tl.P99 {
		d.P99Ms = append(d.P99Ms, ms(p))
	}
	return d
}

// WriteReport writes report.md and a self-contained report.html into dir:
// the answer first — capacity, knee, saturation, recommendation, warnings
// — then the evidence: the fit, every step, and the figures (linked from
// the Markdown; in the HTML, drawn by the interactive charts inlined in
// it, with the PNG and SVG files linked). Figure paths are relative to
// dir.
func WriteReport(dir string, a *Analysis, figs []Figure) error {
	d := reportData{S: a.Summary, Meta: a.Run.Meta, Answer: answerLines(a.Summary), Figures: figs, Charts: a.charts(), Script: htmltemplate.JS(chartjs.Script)}
	return WritePages(dir, "report", func(w io.Writer) error { return mdReport.Execute(w, d) }, func(w io.Writer) error { return htmlReport.Execute(w, d) })
}

// EmbedFigures returns the data URIs of the figures, whose paths are
// relative to dir, for a page that must work without the files next to it
// and without a network.
func EmbedFigures(dir string, figs []Figure) ([]htmltemplate.URL, error) {
	var out []htmltemplate.URL
	for _, f := range figs {
		b, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil {
			return nil, fmt.Errorf("analysis: report: %w", err)
		}
		mime := "image/png"
		if strings.HasSuffix(f.Path, ".svg") {
			mime = "image/svg+xml"
		}
		uri := "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(b)
		out = append(out, htmltemplate.URL(uri))
	}
	return out, nil
}

// WritePages writes NAME.md and NAME.html into dir, each whole or not at
// all, from the functions that render them.
func WritePages(dir, name string, md, html func(io.Writer) error) error {
	for ext, render := range map[string]func(io.Writer) error{".md": md, ".html": html} {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			return fmt.Errorf("analysis: %s%s: %w", name, ext, err)
		}
		err := rundir.WriteFileAtomic(filepath.Join(dir, name+ext), func(w io.Writer) error {
			_, err := b.WriteTo(w)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// answerLines is the answer in a few sentences, for both reports and the
// terminal alike.
func answerLines(s rundir.Summary) []string {
	var out []string
	c := s.Capacity
	unit := "req/s"
	if s.Conversations != nil {
		unit = "conversations/s"
	}
	switch {
	case c.QPS > 0 && c.High > 0:
		out = append(out, fmt.Sprintf("Capacity: %s %s — the true limit lies between %s and %s %s; limited by %s.",
			rate(c.QPS), unit, rate(c.Low), rate(c.High), unit, limitName(c.LimitedBy)))
	case c.QPS > 0 && c.LimitedBy == "generator":
		out = append(out, fmt.Sprintf("Capacity: at least %s %s, a lower bound set by the generator: it could not offer more, so the target's own limit was not reached. Give the generator more cores, or run several.", rate(c.QPS), unit))
	case c.QPS > 0:
		out = append(out, fmt.Sprintf("Capacity: at least %s %s; no limit broke above it (%s).", rate(c.QPS), unit, limitName(c.LimitedBy)))
	default:
		out = append(out, "Capacity: not found — no load held every limit in every step run at it or below.")
	}
	if f := s.Fit; f != nil && len(f.CapacityCI) == 2 {
		out = append(out, fmt.Sprintf("The fitted latency curve meets the limit at %s %s (%.0f %% interval %s–%s).",
			rate(f.CapacityQPS), unit, 100*f.Level, rate(f.CapacityCI[0]), rate(f.CapacityCI[1])))
	}
	if s.Knee.QPS > 0 {
		out = append(out, fmt.Sprintf("Knee: %s %s (%s).", rate(s.Knee.QPS), unit, s.Knee.Method))
	}
	if sat := s.Saturation; sat.QPS > 0 {
		out = append(out, fmt.Sprintf("Saturation: the target sustained %s req/s at its plateau (95 %% interval %s–%s); it stopped keeping up with its offer, or failed 5 %% of requests, from an offered %s %s.",
			rate(sat.QPS), rate(sat.Low), rate(sat.High), rate(sat.OnsetQPS), unit))
	} else {
		out = append(out, "Saturation: not reached.")
	}
	if cv := s.Conversations; cv != nil && cv.CapacityRequestsQPS > 0 {
		out = append(out, "Conversations: "+DescribeConversations(c.QPS, cv)+".")
	}
	if p := s.Prompts; p != nil && p.Requests > 0 {
		out = append(out, "Prompts: "+DescribePrompts(p)+".")
	}
	if sv := s.Server; sv != nil && sv.Explanation != "" {
		out = append(out, "Server: "+sv.Explanation+".")
	}
	r := s.Recommendation
	switch {
	case r.Replicas > 0:
		out = append(out, fmt.Sprintf("Recommendation: %d replicas for %s %s with %.0f %% headroom: %s.", r.Replicas, rate(r.TargetQPS), unit, 100*r.Headroom, r.Arithmetic))
	case r.PerReplicaQPS > 0:
		out = append(out, fmt.Sprintf("Recommendation: plan %s %s per replica (%.0f %% headroom); give --target-qps to size replicas.", rate(r.PerReplicaQPS), unit, 100*r.Headroom))
	}
	if c := s.Cost; c != nil {
		out = append(out, "Cost: "+DescribeCost(c, unit)+".")
	}
	return out
}

// DescribeCost prices the safe load.
func DescribeCost(c *rundir.Cost, unit string) string {
	out := fmt.Sprintf("%.4g per thousand requests", c.PerThousandRequests)
	if c.PerMillionOutputTokens > 0 {
		out = fmt.Sprintf("%.4g per million output tokens, %s", c.PerMillionOutputTokens, out)
	}
	return out + fmt.Sprintf(", at the safe load of %s %s per replica costing %.4g an hour", rate(c.AtQPS), unit, c.ReplicaHour)
}

// DescribeConversations says what conversations started at rate made.
func DescribeConversations(rate float64, cv *rundir.Conversations) string {
	return fmt.Sprintf("%.4g started a second made %.4g req/s at that load (%.2g requests each over the run)", rate, cv.CapacityRequestsQPS, cv.TurnsMean)
}

// DescribePrompts compares the prompt lengths asked and counted, and says
// how they were sized.
func DescribePrompts(p *rundir.Prompts) string {
	out := fmt.Sprintf("%.0f tokens by the server's count for %.0f asked (%+.1f %%)", p.ReportedMean, p.AskedMean, 100*p.Error)
	if cal := p.Calibration; cal != nil && cal.Samples > 0 {
		out += "; sized at " + DescribeCalibration(*cal)
	}
	if p.CachedShare > 0 {
		out += fmt.Sprintf("; %.0f %% of prompt tokens were in the server's prefix cache", 100*p.CachedShare)
	}
	return out
}

// DescribeCalibration says how prompts were sized in the server's tokens.
func DescribeCalibration(cal rundir.Calibration) string {
	by := fmt.Sprintf("%s on %d prompts", cal.Source, cal.Samples)
	switch cal.Method {
	case "usage":
		by = fmt.Sprintf("the usage of %d requests", cal.Samples)
	case "tokenize":
		by = fmt.Sprintf("%s on %d prompts", rundir.RedactURL(cal.Source), cal.Samples)
	}
	return fmt.Sprintf("%.3g tokens a word + %.3g, by %s", cal.PerPiece, cal.Overhead, by)
}

func limitName(l string) string {
	switch l {
	case "max_rt":
		return "the latency limit"
	case "fault":
		return "the error budget"
	case "max_qps":
		return "the --max-qps ceiling"
	case "ttft":
		return "the TTFT limit"
	case "tpot":
		return "the TPOT limit"
	case "generator":
		return "the generator, which could not offer more"
	case "":
		return "nothing"
	}
	return l
}

func rate(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

var funcs = map[string]any{
	// The SLO frontier's cells.
	"rung": func(p rundir.FrontierPoint) string {
		what := "latency"
		if p.Metric == "ttft" {
			what = "TTFT"
		}
		return fmt.Sprintf("p%s %s ≤ %s ms", strings.TrimSuffix(fmt.Sprintf("%.4g", 100*p.Quantile), ".0"), what, strings.TrimSuffix(fmt.Sprintf("%.4g", p.LimitMs), ".0"))
	},
	"held": func(p rundir.FrontierPoint) string {
		switch {
		case p.CapacityQPS <= 0:
			return "no step held it"
		case p.HighQPS > 0:
			return fmt.Sprintf("%s/s (broke at %s/s)", rate(p.CapacityQPS), rate(p.HighQPS))
		}
		return fmt.Sprintf("%s/s (none broke it)", rate(p.CapacityQPS))
	},
	"fitted": func(p rundir.FrontierPoint) string {
		if p.FittedQPS <= 0 {
			return "—"
		}
		out := rate(p.FittedQPS) + "/s"
		if len(p.FittedCI) == 2 {
			out += fmt.Sprintf(" (%s–%s)", rate(p.FittedCI[0]), rate(p.FittedCI[1]))
		}
		if p.Extrapolated {
			out += ", extrapolated"
		}
		return out
	},
	"rate": rate,
	"pct":  func(v float64) string { return fmt.Sprintf("%.2f %%", 100*v) },
	"pq":   func(q float64) string { return "p" + strings.TrimSuffix(fmt.Sprintf("%.4g", 100*q), ".0") },
	"ms":   func(v float64) string { return fmt.Sprintf("%.3g", v) },
	"load": func(s rundir.SummaryStep) string {
		if s.OfferedQPS > 0 {
			return rate(s.OfferedQPS) + "/s"
		}
		return fmt.Sprintf("c=%d", s.Concurrency)
	},
}

var mdReport = template.Must(template.New("md").Funcs(funcs).Parse(`# capfinder report{{with index .Meta "run.url"}}: {{.}}{{end}}

{{range .Answer}}- {{.}}
{{end}}
{{- if .S.Warnings}}
## Warnings

{{range .S.Warnings}}- {{.}}
{{end}}{{end}}
## Limits

{{pq .S.Limits.RTQuantile}} latency ≤ {{if .S.Limits.MaxRTMs}}{{.S.Limits.MaxRTMs}} ms{{else}}(none){{end}}, errors ≤ {{pct .S.Limits.FaultTolerate}}{{if .S.Limits.MaxQPS}}, rate ≤ {{rate .S.Limits.MaxQPS}}/s{{end}}.
Mode {{.S.Mode}}, status {{.S.Status}}; {{.S.Requests.Sent}} requests sent, {{.S.Requests.Recorded}} recorded, {{.S.Requests.Failed}} failed{{with .S.Requests.Gaps}}, {{.}} scheduled arrivals dropped or missing (gaps in seq){{end}}.
{{with .S.Frontier}}
## SLO frontier

The capacity at other limits: the steps judged again with each (the run's other limits kept), and where the curve fitted to that quantile meets it, with its 90 % interval.

| limit | steps | fitted curve |
|---|---|---|
{{range .}}| {{rung .}} | {{held .}} | {{fitted .}} |
{{end}}{{end}}{{with .S.Fit}}
## Fit

{{if .Model}}Latency curve: {{.Model}}, by {{.Method}}, over {{.Points}} steady steps: S = {{ms .SMs}} ms, A = {{printf "%.4g" .A}}, μ = {{rate .MuQPS}} req/s; RMS error {{printf "%.3g" .RMSLE}} in log latency.
{{end}}{{with .USL}}USL on achieved throughput versus mean concurrency (Little's law) over {{.Points}} steps: λ = {{printf "%.4g" .Lambda}} req/s, σ = {{printf "%.3g" .Sigma}}, κ = {{printf "%.3g" .Kappa}}{{if .PeakQPS}}; throughput peaks at {{rate .PeakQPS}} req/s with {{printf "%.3g" .PeakConcurrency}} in flight{{end}}; RMS error {{printf "%.3g" .RMSLE}} in log throughput.
{{end}}The {{if eq .Chosen "usl"}}USL{{else}}latency curve{{end}} fits this run better.
{{end}}
## Steps

| step | phase | load | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | verdict |
|---|---|---|---|---|---|---|---|---|---|
{{range .S.Steps}}| {{.Step}} | {{.Phase}} | {{load .}} | {{rate .AchievedQPS}} | {{ms .P50Ms}} | {{ms .P90Ms}} | {{ms .P99Ms}} | {{ms .P999Ms}} | {{pct .ErrorRate}} | {{.Verdict}}{{with .LimitedBy}} ({{.}}){{end}} |
{{end}}
## Figures
{{range .Figures}}
![{{.Caption}}]({{.Path}})
{{end}}`))

var htmlReport = htmltemplate.Must(htmltemplate.New("html").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>capfinder report{{with index .Meta "run.url"}}: {{.}}{{end}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
.answer li{font-size:1.1em;margin:.3em 0}.warn li{color:#8a4b00}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f3f3f3}td:nth-child(2){text-align:left}
.answer{border:2px solid #1f77b4;border-radius:6px;background:#f5f9ff;padding:.6em 1em .6em 2em;margin:1em 0}
figure.chart{margin:1.2em 0;position:relative;border:1px solid #ddd;padding:.4em}
figure.chart figcaption{font-weight:600;color:#222}
figure.chart canvas{width:100%;height:320px;display:block}
.legend button{border:0;background:none;cursor:pointer;font-size:.85em;margin-right:.5em}
.legend button.off{opacity:.35}
.legend i,.tip i{display:inline-block;width:.8em;height:.8em;margin-right:.3em;border-radius:2px}
.tip{position:absolute;display:none;background:#fff;border:1px solid #aaa;padding:.3em .5em;font-size:.8em;pointer-events:none;white-space:nowrap}
.files{font-size:.9em}
</style></head><body>
<h1>capfinder report{{with index .Meta "run.url"}}: {{.}}{{end}}</h1>
<ul class="answer">{{range .Answer}}<li>{{.}}</li>{{end}}</ul>
{{if .S.Warnings}}<h2>Warnings</h2><ul class="warn">{{range .S.Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>Limits</h2>
<p>{{pq .S.Limits.RTQuantile}} latency ≤ {{if .S.Limits.MaxRTMs}}{{.S.Limits.MaxRTMs}} ms{{else}}(none){{end}}, errors ≤ {{pct .S.Limits.FaultTolerate}}{{if .S.Limits.MaxQPS}}, rate ≤ {{rate .S.Limits.MaxQPS}}/s{{end}}.
Mode {{.S.Mode}}, status {{.S.Status}}; {{.S.Requests.Sent}} requests sent, {{.S.Requests.Recorded}} recorded, {{.S.Requests.Failed}} failed{{with .S.Requests.Gaps}}, {{.}} scheduled arrivals dropped or missing (gaps in seq){{end}}.</p>
{{with .S.Frontier}}<h2>SLO frontier</h2>
<p>The capacity at other limits: the steps judged again with each (the run's other limits kept), and where the curve fitted to that quantile meets it, with its 90 % interval.</p>
<table><tr><th>limit</th><th>steps</th><th>fitted curve</th></tr>
{{range .}}<tr><td>{{rung .}}</td><td>{{held .}}</td><td>{{fitted .}}</td></tr>
{{end}}</table>{{end}}
{{with .S.Fit}}<h2>Fit</h2>{{if .Model}}<p>Latency curve: {{.Model}}, by {{.Method}}, over {{.Points}} steady steps: S = {{ms .SMs}} ms, A = {{printf "%.4g" .A}}, μ = {{rate .MuQPS}} req/s; RMS error {{printf "%.3g" .RMSLE}} in log latency.</p>{{end}}
{{with .USL}}<p>USL on achieved throughput versus mean concurrency (Little's law) over {{.Points}} steps: λ = {{printf "%.4g" .Lambda}} req/s, σ = {{printf "%.3g" .Sigma}}, κ = {{printf "%.3g" .Kappa}}{{if .PeakQPS}}; throughput peaks at {{rate .PeakQPS}} req/s with {{printf "%.3g" .PeakConcurrency}} in flight{{end}}; RMS error {{printf "%.3g" .RMSLE}} in log throughput.</p>{{end}}
<p>The {{if eq .Chosen "usl"}}USL{{else}}latency curve{{end}} fits this run better.</p>{{end}}
<h2>Charts</h2>
<p class="files">Hover a chart for its values, drag across it to zoom (double-click to reset), click a legend entry to hide a series.</p>
<div id="charts"></div>
<p class="files">The figures as PNG and SVG files, for documents:</p>
<ul class="files">{{range .Figures}}<li><a href="{{.Path}}">{{.Path}}</a>: {{.Caption}}</li>{{end}}</ul>
<script>{{.Script}}</script>
<script>
(() => {
const d = {{.Charts}};
const box = document.getElementById("charts");
const xs = d.steps.map(s => s.offered), col = k => d.steps.map(s => s[k] > 0 ? s[k] : null);
const lat = new Chart(box, {title: "Latency against offered load, step by step", x: "offered req/s", y: "ms", log: "auto", points: true,
  series: [{name: "p50"}, {name: "p90"}, {name: "p99"}, {name: "max"}].concat(d.max_rt_ms ? [{name: "limit", color: "#000"}] : [])});
lat.set(xs, [col("p50"), col("p90"), col("p99"), col("max")].concat(d.max_rt_ms ? [xs.map(() => d.max_rt_ms)] : []));
new Chart(box, {title: "Achieved against offered throughput", x: "offered req/s", y: "req/s", points: true,
  series: [{name: "achieved"}, {name: "offered"}]}).set(xs, [col("achieved"), xs]);
new Chart(box, {title: "Errors against offered load", x: "offered req/s", y: "% of requests", points: true,
  series: [{name: "errors"}]}).set(xs, [d.steps.map(s => s.errors)]);
if (d.streams) {
  new Chart(box, {title: "Time to first token and per output token against offered load", x: "offered req/s", y: "ms", log: "auto", points: true,
    series: [{name: "TTFT p50"}, {name: "TTFT p99"}, {name: "TPOT p99"}]}).set(xs, [col("ttft_p50"), col("ttft_p99"), col("tpot_p99")]);
}
const secs = d.sent.map((_, i) => i + 1);
new Chart(box, {title: "The run second by second: requests sent, completed and failed", x: "seconds", y: "requests/s",
  series: [{name: "sent"}, {name: "completed"}, {name: "failed"}]}).set(secs, [d.sent, d.completed, d.failed]);
new Chart(box, {title: "p99 latency second by second", x: "seconds", y: "ms", log: "auto",
  series: [{name: "p99"}]}).set(secs, [d.p99_ms.map(v => v > 0 ? v : null)]);
})();
</script>
<h2>Steps</h2>
<table><tr><th>step</th><th>phase</th><th>load</th><th>achieved/s</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>errors</th><th>verdict</th></tr>
{{range .S.Steps}}<tr><td>{{.Step}}</td><td>{{.Phase}}</td><td>{{load .}}</td><td>{{rate .AchievedQPS}}</td><td>{{ms .P50Ms}}</td><td>{{ms .P90Ms}}</td><td>{{ms .P99Ms}}</td><td>{{ms .P999Ms}}</td><td>{{pct .ErrorRate}}</td><td>{{.Verdict}}{{with .LimitedBy}} ({{.}}){{end}}</td></tr>
{{end}}</table>
</body></html>
`))
