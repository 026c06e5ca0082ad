// Package compare sets recorded runs side by side: the first is the
// baseline, every other a candidate, and each of their figures gets a
// verdict — better, worse, or no significant change — from the runs' own
// evidence: the capacity's bracket, and a bootstrap over the requests
// within steps for latency, TTFT and TPOT at a load both runs measured.
// It reads runs through the run-directory package alone and sends
// nothing.
package compare
