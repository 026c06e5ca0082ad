package rundir

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"
)

// The files of a run directory (DESIGN.md, "Run directory").
const (
	RunJSON     = "run.json"
	SummaryJSON = "summary.json"
	StepsFile   = "steps.parquet"
	ServerFile  = "server.parquet"
	PartsDir    = "requests"
	PlotsDir    = "plots"
	// AgentJSON is what an agent of a run sent by several generators
	// writes into its own directory, beside its parts.
	AgentJSON = "agent.json"
)

// AgentDir is the directory, under PartsDir, of agent i's parts.
func AgentDir(i int) string { return fmt.Sprintf("agent=%d", i) }

// Fleet is a run sent by several generators (agents) under one
// coordinator: RunID names it in every agent's AgentInfo.
type Fleet struct {
	RunID  string `json:"run_id"`
	Agents int    `json:"agents"`
}

// AgentInfo is an agent's part of a run: which run, which of how many
// agents, the coordinator it took its plan from and when the run's clock
// began (the coordinator's zero).
type AgentInfo struct {
	RunID       string    `json:"run_id"`
	Index       int       `json:"index"`
	Agents      int       `json:"agents"`
	Coordinator string    `json:"coordinator"`
	Start       time.Time `json:"start"`
}

// The key/value metadata of every request part.
const (
	MetaVersion = "capfinder.version"
	MetaSchema  = "capfinder.schema"
	MetaStart   = "run.start"
	MetaURL     = "run.url"
	MetaMode    = "run.mode"
	MetaAPI     = "run.api"
	MetaStreams = "run.streams"
)

// RecordSchema names the request columns the parts hold: MetaSchema's
// value. The second version added seq.
const RecordSchema = "request/3"

// ErrNoSteps is returned by Source.Steps for a run that wrote no
// steps.parquet: one that was killed.
var ErrNoSteps = errors.New("rundir: no steps.parquet")

// A Source is a recorded run as analysis reads it. Package store reads one
// from a run directory.
type Source interface {
	// Dir is where the run lies, for messages.
	Dir() string
	// Meta is the run's key/value metadata (the Meta* keys).
	Meta() map[string]string
	// Steps returns the rows of steps.parquet, or ErrNoSteps.
	Steps() ([]StepRow, error)
	// Records streams every record to fn in batches, from one goroutine,
	// in no particular order. fn must not keep a batch. A part that cannot
	// be read whole is skipped, not an error.
	Records(fn func([]Record) error) error
	// Skipped says which parts the last Records skipped, and why.
	Skipped() []string
	// Server returns the rows of server.parquet; none when the run
	// scraped no server metrics.
	Server() ([]ServerRow, error)
}

// RunInfo is run.json: the resolved configuration and where it ran.
type RunInfo struct {
	Version string      `json:"version"`
	Start   time.Time   `json:"start"`
	Spec    Spec        `json:"config"`
	Env     Environment `json:"environment"`
	// Calibration is how the prompts were sized in the server's tokens;
	// nil when the run sends no sized prompts.
	Calibration *Calibration `json:"calibration,omitempty"`
	// Fleet is set when agents sent the load: their parts are under
	// requests/agent=<i>/.
	Fleet *Fleet `json:"fleet,omitempty"`
}

// Calibration is how a run's prompts were sized in the server's tokens:
// a prompt of n pieces (datasets.Pieces) counts Overhead + PerPiece·n
// tokens there, as fitted from Samples prompts counted by Method. With
// the seed, it makes every prompt of the run again.
type Calibration struct {
	// Method is "usage" (prompt_tokens of answered requests), "tokenize"
	// (the engine's tokenize endpoint), "tokenizer" (a tokenizer.json
	// file, offline) or "none" (a piece taken for a token).
	Method   string  `json:"method"`
	Source   string  `json:"source,omitempty"`
	Samples  int     `json:"samples"`
	Overhead float64 `json:"overhead_tokens"`
	PerPiece float64 `json:"tokens_per_piece"`
	// Why says why a run was not calibrated.
	Why string `json:"why,omitempty"`
}

// Environment is the machine a run was made on.
type Environment struct {
	Go       string `json:"go"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
	Hostname string `json:"hostname"`
}

// ThisMachine describes the machine the process runs on.
func ThisMachine() Environment {
	e := Environment{Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU()}
	e.Hostname, _ = os.Hostname()
	return e
}
