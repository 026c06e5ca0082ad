// Package probe is the load engine.
//
// It sends requests on an open-loop schedule (constant, Poisson or gamma
// arrivals, seeded; linear ramps; bursts) or from closed-loop workers,
// bounds the requests in flight, and measures every request against the
// time the schedule said to send it, so a stalled target or a stalled
// generator shows up as latency rather than disappearing (coordinated
// omission). A pure pacing plan gives every arrival its time and sequence
// number; the scheduler goroutine only sleeps until it and sends. Each
// request becomes one rundir.Record; a step's records are reduced by a
// rundir.Acc to its statistics and handed in batches to a writer
// (store.Recorder).
//
// It does not decide what load to offer (package controller does, wired to
// the engine by controller/runner) and does not analyse runs after the
// fact (package analysis does).
package probe
