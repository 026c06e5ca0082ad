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
			out = append(out, fmt.Sprintf("REGRESSED: %s, capacity %+.1f %% against %s, beyond the threshold and the noise", cand.Dir, 100*m.Change, c.Baseline))
		case m.Verdict == Worse:
			out = append(out, fmt.Sprintf("worse: %s, capacity %+.1f %% against %s", cand.Dir, 100*m.Change, c.Baseline))
		case m.Verdict == Better:
			out = append(out, fmt.Sprintf("better: %s, capacity %+.1f %% against %s", cand.Dir, 100*m.Change, c.Baseline))
		default:
			out = append(out, fmt.Sprintf("no significant change: %s, capacity %+.1f %% against %s (~: within the runs' intervals and a %.0f %% noise floor)", cand.Dir, 100*m.Change, c.Baseline, 100*c.Noise))
		}
	}
	return append(out, c.Warnings...)
}

// cell formats a figure with its range.
func cell(v float64, r [2]float64) string {
	return fmt.Sprintf("%.4g [%.4g, %.4g]", v, r[0], r[1])
}

// WriteText writes the comparison for a terminal: the answer, then a
// table per candidate.
func (c *Comparison) WriteText(w io.Writer) {
	for _, line := range c.answer() {
		fmt.Fprintln(w, line)
	}
	for _, cand := range c.Candidates {
		fmt.Fprintf(w, "\n%s against %s:\n", cand.Dir, c.Baseline)
		fmt.Fprintf(w, "  %-28s %-28s %-28s %9s  %s\n", "metric", "baseline [range]", "candidate [range]", "change", "verdict")
		for _, m := range cand.Metrics {
			fmt.Fprintf(w, "  %-28s %-28s %-28s %+8.1f%%  %s\n", m.Name, cell(m.Base, m.BaseRange), cell(m.Value, m.Range), 100*m.Change, m.Verdict)
		}
	}
}

// WriteMarkdown writes the comparison as markdown.
func (c *Comparison) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "# capfinder comparison against %s\n\n", c.Baseline)
	for _, line := range c.answer() {
		fmt.Fprintf(w, "- %s\n", line)
	}
	for _, cand := range c.Candidates {
		fmt.Fprintf(w, "\n## %s\n\n| metric | baseline [range] | candidate [range] | change | verdict |\n|---|---|---|---|---|\n", cand.Dir)
		for _, m := range cand.Metrics {
			fmt.Fprintf(w, "| %s | %s | %s | %+.1f %% | %s |\n", m.Name, cell(m.Base, m.BaseRange), cell(m.Value, m.Range), 100*m.Change, strings.ReplaceAll(m.Verdict, "~", "\\~"))
		}
	}
	fmt.Fprintf(w, "\nRanges are where each run's figure lies by its own evidence (the capacity between the last load that held and the first that broke, or the fitted curve's interval), widened by a %.0f %% run-to-run noise floor; a difference is significant only when the ranges do not overlap (\"~\" otherwise).\n", 100*c.Noise)
}
