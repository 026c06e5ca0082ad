package runner

import (
	"time"

	"github.com/capfinder/capfinder/controller"
	"github.com/capfinder/capfinder/probe/rundir"
)

// An Event is something that happened in a run: Started, Calibrated,
// StepStarted, Window, Tick, Drained, Judged, Warning or Done. A caller watching a run
// switches on the type.
type Event interface{ event() }

// Started is the first event: the run directory is made and the payloads
// read (Dataset says what a dataset holds, when one is used).
type Started struct {
	Dir     string
	Spec    Spec
	Dataset string
}

// StepStarted is a new step: the load the controller decided on.
type StepStarted struct {
	Step     int
	Decision controller.Decision
}

// Window is a step's statistics as the engine cut it; a step held longer
// for want of samples has a window at each cut.
type Window struct {
	Step  int
	Stats *rundir.StepStats
}

// Drained is the pause after a failed step, while its backlog drained.
type Drained struct{ Waited time.Duration }

// Judged is the controller's verdict on a step, with the step's
// statistics.
type Judged struct {
	Step  controller.Step
	Stats *rundir.StepStats
}

// Calibrated says how the prompts were sized in the server's tokens,
// before the load began.
type Calibrated struct{ Calibration rundir.Calibration }

// Tick is a second of the run as it ended: what the engine saw in it,
// and the step running.
type Tick struct{ Second rundir.Second }

// Warning is something the answer should not be trusted for.
type Warning struct{ Message string }

// Done is the last event: how the run ended. Err is a run that could not
// be recorded.
type Done struct {
	Result Result
	Err    error
}

func (Started) event()     {}
func (StepStarted) event() {}
func (Window) event()      {}
func (Drained) event()     {}
func (Judged) event()      {}
func (Calibrated) event()  {}
func (Warning) event()     {}
func (Tick) event()        {}
func (Done) event()        {}
