// Command capfinder finds how much load a service can take before it
// breaks its service levels. See README.md, or run `capfinder help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	abort := make(chan struct{})
	ctx = context.WithValue(ctx, abortKey{}, (<-chan struct{})(abort))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		// The run stops and writes what it recorded; the exit code says
		// which signal stopped it.
		cancel(stoppedBy{s.(syscall.Signal)})
		// A second signal cuts that work short too.
		<-sigs
		close(abort)
	}()
	err := run(ctx, os.Stdout, os.Stderr, os.Args)
	signal.Stop(sigs)
	os.Exit(exitCode(err, os.Stderr))
}

// abortKey carries, in the context of a command, the channel a second
// signal closes.
type abortKey struct{}

// stoppedBy is the cause of a run stopped by a signal.
type stoppedBy struct{ sig syscall.Signal }

func (s stoppedBy) Error() string { return s.sig.String() }

// interruptedCode is the exit code of a command stopped by ctx's signal:
// the shell's 128 + the signal, 130 for Ctrl-C (and for a context
// cancelled otherwise, as in tests), 143 for SIGTERM.
func interruptedCode(ctx context.Context) int {
	var s stoppedBy
	if errors.As(context.Cause(ctx), &s) {
		return 128 + int(s.sig)
	}
	return exitInterrupted
}

// Exit codes, as DESIGN.md fixes them; exitFailed is for a run that could
// not finish (a disk that filled up, a target that vanished mid-run is
// not one: that is data).
const (
	exitOK      = 0
	exitVerdict = 1
	exitUsage   = 2
	exitFailed  = 3
	// exitInterrupted is the shell's code for a process ended by Ctrl-C
	// (128 + SIGINT): the run was cut short, its partial result written;
	// SIGTERM exits 143 (interruptedCode).
	exitInterrupted = 130
)

// run is the whole CLI: main only sets up signals and turns the error into
// an exit code, so tests drive run directly.
func run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	app := newApp(stdout, stderr)
	return app.RunContext(ctx, reorderArgs(app, args))
}

// exitCode prints err as one line and maps it to an exit code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := ec.Error(); msg != "" {
			fmt.Fprintln(stderr, "capfinder:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(stderr, "capfinder:", err)
	return exitFailed
}

// usageError is a bad flag, argument or input file: exit code 2.
func usageError(format string, a ...any) error {
	return cli.Exit(fmt.Sprintf(format, a...), exitUsage)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:    "capfinder",
		Usage:   "find how much load a service takes before it breaks its service levels",
		Version: version,
		Description: `capfinder drives offered load in a closed loop against limits (a latency
quantile, an error budget, a QPS ceiling), records every request to Parquet,
and says what one replica sustains and how many replicas a target load needs.

   capfinder demo                                   # the whole job on a simulated target
   capfinder run --max-rt 200ms http://127.0.0.1:8080/predict
   capfinder sim http --workers 4 --service-time 10ms`,
		Writer:    stdout,
		ErrWriter: stderr,
		// Errors come back to run; main prints them and picks the code.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError("%v", err)
		},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "capfinder: no command %q; see 'capfinder help'\n", name)
		},
		// Without a command, help; with an unknown one, a usage error
		// (cli's own fallback prints help and exits 0).
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("no command %q; see 'capfinder help'", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			runCommand(),
			agentCommand(),
			kubeCommand(),
			analyzeCommand(),
			mergeCommand(),
			compareCommand(),
			sweepCommand(),
			lsCommand(),
			updateCommand(),
			stopCommand(),
			demoCommand(),
			simCommand(),
		},
	}
	refuseQuietly(app.Commands, "")
	return app
}

// refuseQuietly makes a bad flag or value a one-line usage error (exit 2)
// in every command, instead of cli's default of printing the whole help.
func refuseQuietly(cmds []*cli.Command, parent string) {
	for _, c := range cmds {
		name := strings.TrimSpace(parent + " " + c.Name)
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return usageError("%s: %v; see 'capfinder %s --help'", name, err, name)
		}
		refuseQuietly(c.Subcommands, name)
	}
}
