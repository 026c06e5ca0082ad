// Package rundir is the run directory's format: the request and step
// schemas, the metadata keys, run.json (the Spec) and summary.json, the
// histogram geometry, and the step accumulator that turns records into
// step statistics.
//
// The live run, analysis of a recorded run and a coordinator merging many
// generators all reduce records with the same Acc, so their figures agree
// by construction. Writing and reading the Parquet parts is package
// store's, beneath this one; analysis reads runs through the Source
// interface, so that neither it nor an outside tool links the engine.
//
// It does not send requests (package probe does) and does not judge or
// explain steps (packages controller and analysis do).
package rundir
