// Package analysis turns what a run recorded into the answer: per-step
// statistics, the capacity under the service levels, and summary.json.
//
// It reads only what the probe wrote (records, steps) and never sends a
// request; the same code serves a run as it finishes and a recorded run
// analysed later with other limits.
package analysis
