// Package probe is the load engine.
//
// It sends requests on an open-loop schedule (constant, Poisson or gamma
// arrivals, seeded) or from closed-loop workers, bounds the requests in
// flight, and measures every request against the time the schedule said to
// send it, so a stalled target or a stalled generator shows up as latency
// rather than disappearing (coordinated omission). Each request becomes one
// rundir.Record; records are summarised per step into a Window and written to
// Parquet parts by a Recorder.
//
// It does not decide what load to offer (package controller does) and does
// not analyse runs after the fact (package analysis does).
package probe
