// Package controller decides what load to offer next.
//
// A controller is a pure function of what it has seen: it takes the Window
// of a finished step and returns the next Decision, or says the search is
// done. It does no I/O, reads no clock and starts no goroutines; the step
// loop (Run) is driven through a callback, so the package never imports the
// load engine and every mode is tested against simulated plants in
// microseconds.
//
// It owns the modes (scan, auto, manual, rate, concurrency, throughput), the
// limits (a latency quantile, an error budget, a QPS ceiling, TTFT and TPOT)
// and the fault actions (stop, revise). It does not own measurement: the
// caller reduces what the engine saw to a Window.
package controller
