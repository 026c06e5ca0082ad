package compare

import (
	"fmt"
	"io"
	"strings"
)

// answer is the comparison's first lines: which run is best, and what
// regressed.
func (c *Comparison) answer() []string {
	out := []string{fmt.Sprintf("best: %s (the highest capacity no other run beats significantly)", c.Best)}
	for _, cand := range c.Candidates {
		m := cand.Metrics[0]
		switch {
		case cand.Regressed:
			out = append(out, fmt.Sprintf("REGRESSED: %s, capacity %+.1f %% against %s, beyond the threshold and the noise", cand.Name, 100*m.Change, c.Baseline))
		case m.Verdict == Worse:
			out = append(out, fmt.Sprintf("worse: %s, capacity %+.1f %% against %s", cand.Name, 100*m.Change, c.Baseline))
		case m.Verdict == Better:
			out = append(out, fmt.Sprintf("better: %s, capacity %+.1f %% against %s", cand.Name, 100*m.Change, c.Baseline))
		default:
			out = append(out, fmt.Sprintf("no significant change: %s, capacity %+.1f %% against %s (~: within the runs' intervals and a %s)", cand.Name, 100*m.Change, c.Baseline, c.noise()))
		}
	}
	for _, r := range c.Repeats {
		out = append(out, fmt.Sprintf("%s repeated %d times: capacity %s req/s, spread %.1f %%", r.Name, len(r.Capacities), joinFloats(r.Capacities), 100*r.Spread))
	}
	return append(out, c.Warnings...)
}

// noise says the noise floor and where it came from.
func (c *Comparison) noise() string {
	switch c.NoiseFrom {
	case "repeats":
		return fmt.Sprintf("%.1f %% noise floor measured from repeats", 100*c.Noise)
	case "option":
		return fmt.Sprintf("%.1f %% noise floor (--noise)", 100*c.Noise)
	}
	return fmt.Sprintf("%.1f %% noise floor (the default: twice the search's precision)", 100*c.Noise)
}

func joinFloats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.4g", x)
	}
	return strings.Join(s, ", ")
}

// cell formats a figure with its range, when it has one.
func cell(v float64, r [2]float64) string {
	if r[0] == v && r[1] == v {
		return fmt.Sprintf("%.4g", v)
	}
	return fmt.Sprintf("%.4g [%.4g, %.4g]", v, r[0], r[1])
}

// WriteText writes the comparison for a terminal: the answer, then a
// table per candidate.
func (c *Comparison) WriteText(w io.Writer) {
	for _, line := range c.answer() {
		fmt.Fprintln(w, line)
	}
	for _, cand := range c.Candidates {
		fmt.Fprintf(w, "\n%s against %s:\n", cand.Name, c.Baseline)
		rows := [][]string{{"metric", "baseline [range]", "candidate [range]", "change", "verdict"}}
		for _, m := range cand.Metrics {
			rows = append(rows, []string{m.Name, cell(m.Base, m.BaseRange), cell(m.Value, m.Range), change(m), m.Verdict})
		}
		width := make([]int, 4)
		for _, r := range rows {
			for i := range width {
				width[i] = max(width[i], len(r[i]))
			}
		}
		for _, r := range rows {
			line := fmt.Sprintf("  %-*s  %-*s  %-*s  %*s  %s", width[0], r[0], width[1], r[1], width[2], r[2], width[3], r[3], r[4])
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
	}
}

// change is a metric's change against the baseline, in percent; empty
// when the baseline's figure is 0.
func change(m Metric) string {
	if m.Base == 0 {
		return ""
	}
	return fmt.Sprintf("%+.1f %%", 100*m.Change)
}

// WriteMarkdown writes the comparison as markdown.
func (c *Comparison) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "# capfinder comparison against %s\n\n", c.Baseline)
	for _, line := range c.answer() {
		fmt.Fprintf(w, "- %s\n", line)
	}
	for _, cand := range c.Candidates {
		fmt.Fprintf(w, "\n## %s\n\n| metric | baseline [range] | candidate [range] | change | verdict |\n|---|---|---|---|---|\n", cand.Name)
		for _, m := range cand.Metrics {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", m.Name, cell(m.Base, m.BaseRange), cell(m.Value, m.Range), change(m), strings.ReplaceAll(m.Verdict, "~", "\\~"))
		}
	}
	fmt.Fprintf(w, "\n%s\n", c.legend())
}

// legend says what the ranges are, for the markdown and the page.
func (c *Comparison) legend() string {
	return fmt.Sprintf("Ranges are where each run's figure lies by its own evidence: the capacity between the last load that held and the first that broke (or the fitted curve's interval); latency, TTFT and TPOT at a load both runs measured, read from each run's fitted curve, with a %.0f %% bootstrap over the requests within its steps (a run that kept only its summary: by the noise floor alone); the saturation throughput by its count's interval; other figures by the noise floor alone. Each is widened by a %s. A difference is significant only when the ranges do not overlap (\"~\" otherwise). Server metrics are told at each run's capacity, without a verdict.", 100*c.Level, c.noise())
}
