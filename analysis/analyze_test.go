package analysis

import (
	"encoding/base64"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
	"github.com/capfinder/capfinder/probe/rundir/store"
)

// writeRun records a synthetic run: one 10 s step per rate, constant
// arrivals, and an M/M/1-like latency whose p99 is ln(100)/(μ − λ) with μ
// = 1000/s — each step's latencies are that distribution's quantiles, so
// the p99 is exact. Steps at or above μ fall behind: their requests
// complete at μ and the rest are still in flight at the step's end.
func writeRun(t testing.TB, rates []float64) string { return writeRunParts(t, rates, 0) }

// writeRunParts is writeRun with parts of at most maxRows rows (0: the
// recorder's default).
func writeRunParts(t testing.TB, rates []float64, maxRows int64) string {
	t.Helper()
	dir := t.TempDir()
	rec, err := store.NewRecorder(dir, store.RecorderOptions{MaxRows: maxRows, Metadata: map[string]string{"run.mode": "auto"}})
	if err != nil {
		t.Fatal(err)
	}
	const mu, hold = 1000.0, 10 * time.Second
	var steps []rundir.StepRow
	var at int64
	for i, rate := range rates {
		n := int(rate * hold.Seconds())
		recs := make([]rundir.Record, n)
		for k := range recs {
			sched := at + int64(float64(k)/rate*1e9)
			var lat float64
			if rate < mu {
				// The (k mod 1000 + 0.5)/1000 quantile of an exponential
				// with mean 1/(μ − λ).
				u := (float64(k%1000) + 0.5) / 1000
				lat = -math.Log(1-u) / (mu - rate)
			} else {
				// Overloaded: the queue grows for the whole step.
				lat = float64(k)/mu - float64(k)/rate + 0.001
			}
			recs[k] = rundir.Record{Step: int32(i + 1), OfferedQPS: rate, ScheduledNs: sched, SentNs: sched,
				EndNs: sched + int64(lat*1e9), Status: 200}
		}
		if err := rec.Write(recs); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, rundir.StepRow{Step: int32(i + 1), Phase: "grow", OfferedQPS: rate,
			StartNs: at, EndNs: at + int64(hold), JudgedStartNs: at + int64(time.Second), JudgedEndNs: at + int64(hold)})
		at += int64(hold)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if err := store.WriteParquet(filepath.Join(dir, "steps.parquet"), steps, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAnalyzeRecordedRun(t *testing.T) {
	rates := []float64{100, 200, 400, 800, 850, 900, 1600}
	dir := writeRun(t, rates)
	r, err := ReadRun(open(t, dir), ReadOptions{Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	var sent int64
	for _, rate := range rates {
		sent += int64(rate * 10)
	}
	if r.Records != sent || len(r.Steps) != len(rates) {
		t.Fatalf("read %d records in %d steps, want %d in %d", r.Records, len(r.Steps), sent, len(rates))
	}
	// p99 = ln(100)/(1000 − λ) ≤ 50 ms holds up to λ = 907.9/s.
	lim := controller.DefaultLimits()
	lim.MaxRT = 50 * time.Millisecond
	a := Analyze(r, Options{Limits: lim, Search: true, TargetQPS: 2000, Headroom: 0.3, Seed: 1})
	c := a.Summary.Capacity
	if c.QPS != 900 || c.LimitedBy != "max_rt" {
		t.Errorf("capacity %v limited by %q, want 900 by max_rt", c.QPS, c.LimitedBy)
	}
	// The fit recovers where the curve meets the limit.
	truth := 1000 - math.Log(100)/0.050
	if f := a.Summary.Fit; f == nil || math.Abs(f.CapacityQPS-truth)/truth > 0.02 {
		t.Errorf("fit %+v, want capacity_qps within 2 %% of %.1f", f, truth)
	} else if len(f.CapacityCI) != 2 || f.CapacityCI[0] > truth || f.CapacityCI[1] < truth {
		t.Errorf("interval %v misses the truth %.1f", f.CapacityCI, truth)
	}
	// Both curves are fitted and the better one named.
	if f := a.Summary.Fit; f == nil || f.USL == nil || (f.Chosen != "latency" && f.Chosen != "usl") {
		t.Errorf("fit %+v: want the latency curve and the USL, one of them chosen", f)
	}
	// 1600/s cannot be kept up with: saturation begins there, and the
	// target's plateau is its service rate, 1000/s.
	if s := a.Summary.Saturation; s.OnsetQPS != 1600 || math.Abs(s.QPS-1000) > 20 || s.Low > 1000 || s.High < 1000 {
		t.Errorf("saturation %+v, want its onset at 1600 offered and a plateau of 1000/s within its interval", s)
	}
	if k := a.Summary.Knee.QPS; !(k > 400 && k < 900) {
		t.Errorf("knee at %v, want between the flat and the steep steps", k)
	}
	if rc := a.Summary.Recommendation; rc.Replicas != 4 {
		t.Errorf("replicas %d, want ceil(2000 / (900 × 0.7)) = 4", rc.Replicas)
	}
	// The warm-up second of each 10 s step is left out of its samples.
	if got, want := r.Steps[0].Samples, int64(900); got != want {
		t.Errorf("step 1 judged %d samples, want %d", got, want)
	}

	// A tighter limit never raises the capacity, a looser one never lowers it.
	prev := -1.0
	for _, ms := range []int{1, 5, 10, 20, 50, 100, 1000} {
		lim.MaxRT = time.Duration(ms) * time.Millisecond
		got := Analyze(r, Options{Limits: lim, Search: true, Bootstrap: 20}).Summary.Capacity.QPS
		if got < prev {
			t.Errorf("--max-rt %dms gives %v, under the %v of a tighter limit", ms, got, prev)
		}
		prev = got
	}
}

func TestAnalyzeInterruptedSearch(t *testing.T) {
	// Every step passes; the run was interrupted during the last.
	r, err := ReadRun(open(t, writeRun(t, []float64{100, 200, 400})), ReadOptions{Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	lim := controller.DefaultLimits()
	lim.MaxRT = 50 * time.Millisecond
	for _, c := range []struct {
		search bool
		status controller.Status
		want   float64
	}{
		{true, controller.Finished, 400},
		// As in the live search, a cut step's pass does not count.
		{true, controller.Stopped, 200},
		// A fixed load held until the interrupt still held.
		{false, controller.Stopped, 400},
	} {
		a := Analyze(r, Options{Limits: lim, Search: c.search, Status: c.status})
		if got := a.Summary.Capacity.QPS; got != c.want {
			t.Errorf("search %v, %v: capacity %v, want %v", c.search, c.status, got, c.want)
		}
		cut := strings.Contains(strings.Join(a.Summary.Warnings, "\n"), "step 3 (400/s) was cut short")
		if want := c.search && c.status == controller.Stopped; cut != want {
			t.Errorf("search %v, %v: warnings %q; want a cut step named: %v", c.search, c.status, a.Summary.Warnings, want)
		}
	}
}

func TestReadRunWarmupOverride(t *testing.T) {
	dir := writeRun(t, []float64{100})
	r, err := ReadRun(open(t, dir), ReadOptions{Warmup: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Steps[0].Samples; got != 700 {
		t.Errorf("judged %d samples with a 3 s warm-up of a 10 s step at 100/s, want 700", got)
	}
}

func TestReadRunWithoutStepsFile(t *testing.T) {
	// A run killed before it wrote steps.parquet is still read, one step
	// per recorded step number.
	dir := writeRun(t, []float64{100, 200})
	if err := os.Remove(filepath.Join(dir, "steps.parquet")); err != nil {
		t.Fatal(err)
	}
	r, err := ReadRun(open(t, dir), ReadOptions{Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 2 || r.Steps[0].Sent != 1000 || r.Steps[1].Sent != 2000 {
		t.Errorf("recovered %d steps", len(r.Steps))
	}
}

// BenchmarkReadRun reads a recorded run of a million requests back and
// analyses it; b.N runs of it. scripts/bench-analyze.sh measures the whole
// command on ten million.
func BenchmarkReadRun(b *testing.B) {
	dir := writeRun(b, []float64{10000, 20000, 40000, 30000})
	b.ReportAllocs()
	for b.Loop() {
		r, err := ReadRun(open(b, dir), ReadOptions{Warmup: -1})
		if err != nil {
			b.Fatal(err)
		}
		Analyze(r, Options{Limits: controller.DefaultLimits(), Search: true})
	}
	b.ReportMetric(float64(b.N)*1e6/b.Elapsed().Seconds(), "records/s")
}

func TestWriteReportPutsTheAnswerFirst(t *testing.T) {
	dir := writeRun(t, []float64{100, 200, 400, 800, 850, 900, 1600})
	r, err := ReadRun(open(t, dir), ReadOptions{Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	lim := controller.DefaultLimits()
	lim.MaxRT = 50 * time.Millisecond
	a := Analyze(r, Options{Limits: lim, Search: true, TargetQPS: 2000, Headroom: 0.3, Seed: 1})
	// A one-pixel PNG stands in for a plot.
	png, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
	if err := os.WriteFile(filepath.Join(dir, "fig.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(dir, a, []Figure{{Path: "fig.png", Caption: "latency versus load"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.md", "report.html"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		capAt, stepsAt := strings.Index(text, "Capacity: 900 req/s"), strings.Index(text, "Steps")
		if capAt < 0 || stepsAt < 0 || capAt > stepsAt {
			t.Errorf("%s: the capacity must come first, before the steps:\n%s", name, text)
		}
		for _, want := range []string{"Saturation: the target sustained", "from an offered 1600 req/s", "4 replicas for 2000 req/s", "latency versus load"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(html), "class Chart") || !strings.Contains(string(html), `"offered":1600`) || strings.Contains(string(html), `src="http`) || strings.Contains(string(html), `href="http`) {
		t.Error("report.html must inline its charts and their data, and load nothing from a network")
	}
}

func TestReadRunSameFromManyParts(t *testing.T) {
	// Parts are read in parallel and merged: the result must not depend
	// on how the rows were split.
	rates := []float64{100, 400, 900, 1600}
	one, many := writeRun(t, rates), writeRunParts(t, rates, 997)
	parts, _ := store.Parts(many)
	if len(parts) < 20 {
		t.Fatalf("%d parts, want many", len(parts))
	}
	a, err := ReadRun(open(t, one), ReadOptions{Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadRun(open(t, many), ReadOptions{Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	lim := controller.DefaultLimits()
	lim.MaxRT = 50 * time.Millisecond
	sa := Analyze(a, Options{Limits: lim, Search: true, Seed: 1}).Summary
	sb := Analyze(b, Options{Limits: lim, Search: true, Seed: 1}).Summary
	if sa.Capacity != sb.Capacity || sa.Requests != sb.Requests || len(sa.Steps) != len(sb.Steps) {
		t.Fatalf("one part: %+v %+v; many: %+v %+v", sa.Capacity, sa.Requests, sb.Capacity, sb.Requests)
	}
	for i := range sa.Steps {
		x, y := sa.Steps[i], sb.Steps[i]
		if x.Samples != y.Samples || x.P99Ms != y.P99Ms || x.AchievedQPS != y.AchievedQPS || x.Verdict != y.Verdict {
			t.Errorf("step %d differs: %+v vs %+v", i+1, x, y)
		}
	}
	if len(a.Timeline.Sent) != len(b.Timeline.Sent) || a.Timeline.P99[5] != b.Timeline.P99[5] {
		t.Error("timelines differ")
	}
}

// open opens the run in dir for reading.
func open(t testing.TB, dir string) rundir.Source {
	t.Helper()
	r, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A killed run's steps, recovered from the records alone, end where the
// next step began: the requests of a step whose queue was building are
// judged at their real age then, not cut short at the step's last send.
func TestRecoveredStepsEndWhereTheyEnded(t *testing.T) {
	dir := writeRun(t, []float64{100, 1200, 100})
	want, err := ReadRun(open(t, dir), ReadOptions{Warmup: 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "steps.parquet")); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRun(open(t, dir), ReadOptions{Warmup: 0})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		g, w := got.Steps[i], want.Steps[i]
		if g.End != w.End || g.Pending != w.Pending || rundir.Quantile(g.Latency, 0.99) != rundir.Quantile(w.Latency, 0.99) {
			t.Errorf("step %d recovered: end %v, %d pending, p99 %v; recorded: end %v, %d pending, p99 %v", i+1,
				g.End, g.Pending, rundir.Quantile(g.Latency, 0.99), w.End, w.Pending, rundir.Quantile(w.Latency, 0.99))
		}
	}
}

// A search the generator could not take past a load says in the report
// that its answer is a lower bound set by the generator.
func TestAGeneratorBoundAnswerIsALowerBound(t *testing.T) {
	sum := rundir.Summary{Mode: string(rundir.ModeAuto), Status: "generator_bound",
		Capacity: rundir.Capacity{QPS: 40000, Low: 40000, LimitedBy: "generator"}}
	if got := answerLines(sum)[0]; !strings.Contains(got, "Capacity: at least 40000 req/s, a lower bound set by the generator") {
		t.Errorf("the report's answer: %s", got)
	}
}
