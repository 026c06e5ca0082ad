// Package runner runs capfinder's closed loop: a Spec becomes a client,
// payloads, an arrival schedule, an engine, a controller and a recorder;
// each step's statistics are judged and the controller decides the next;
// every request is recorded, and the answer is written to summary.json.
//
// A run is watched through the events Run sends (Started, StepStarted,
// Window, Drained, Judged, Warning, Done) and steered through SetLoad and
// Stop, in the manner of vegeta's attacker: the CLI, a dashboard or a
// remote generator all drive runs through this API. It also reads what
// users bring to describe a run: EAS bench_desc files, load profiles and
// headers.
//
// It does not print, parse flags or draw reports: package cmd/capfinder
// and package plots do.
package runner
