// Package store writes and reads a run directory's Parquet files: the
// Recorder writes request parts that rotate by rows and age and are never
// seen half written, WriteParquet writes steps.parquet, and Open reads a
// run back as a rundir.Source, decoding its parts in parallel.
//
// It knows the format only through package rundir; it neither sends
// requests nor analyses them.
package store
