// Package analysis turns what a run recorded into the answer: per-step
// statistics judged against the service levels, the capacity with its
// interval, the fitted latency curve, knee and saturation, the
// recommendation and summary.json.
//
// It reads runs through rundir.Source (package store reads one from a run
// directory) and reduces records with the same step accumulator as the
// live run, so a run as it finishes and a recorded run analysed later with
// other limits give the same figures. Window is the one reduction from
// step statistics to what the controller judges; the runner uses it too.
// It never links the engine and never sends a request.
package analysis
