// Package compare sets recorded runs side by side: the first is the
// baseline, every other a candidate, and each of their figures gets a
// verdict — better, worse, or no significant change — from the runs' own
// evidence. It reads runs through the run-directory files alone
// (run.json and summary.json) and sends nothing.
package compare
