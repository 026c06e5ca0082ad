package probe

import (
	"context"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"

	"github.com/capfinder/capfinder/datasets"
)

// Clock reads the run's time: nanoseconds since its zero, from the
// monotonic clock. The zero value's zero is the Unix epoch; use NewClock.
type Clock struct{ zero time.Time }

// NewClock returns a clock whose zero is now.
func NewClock() Clock { return Clock{zero: time.Now()} }

// ClockAt returns a clock whose zero is zero: a generator keeps the
// clock of the run it takes part in. zero should carry a monotonic
// reading (time.Now().Add(…)), so that the clock never jumps.
func ClockAt(zero time.Time) Clock { return Clock{zero: zero} }

// Now returns nanoseconds since the clock's zero.
func (c Clock) Now() int64 { return int64(time.Since(c.zero)) }

// Zero returns the wall-clock time of the clock's zero.
func (c Clock) Zero() time.Time { return c.zero }

// A Client sends one request and fills the response side of its record:
// FirstByteNs, FirstTokenNs, EndNs, Status, Error, BytesOut, BytesIn and,
// for streams, tokens, events and ITLMaxNs. The engine has already set the
// scheduling fields and SentNs. A failure is written into the record, never
// returned. Implementations must be safe for concurrent use.
type Client interface {
	Do(ctx context.Context, p datasets.Payload, rec *rundir.Record, clk Clock)
}
