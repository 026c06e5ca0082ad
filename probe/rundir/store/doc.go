// Package store writes and reads a run directory's Parquet files: the
// Recorder writes request parts that rotate by rows and age and are never
// seen half written, WriteParquet writes steps.parquet, and Open reads a
// run back as a rundir.Source, decoding its parts in parallel.
//
// A run sent by several generators holds each agent's parts in
// requests/agent=<i>/ beside requests/ itself; Parts lists both, and
// every reader takes the parts from it. Gather copies the parts of agents
// that wrote directories of their own into their run.
//
// It knows the format only through package rundir; it neither sends
// requests nor analyses them.
package store
