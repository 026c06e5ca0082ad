//go:build !linux

package probe

import "time"

// newSleeper returns the scheduler's sleep: the runtime's timers, the
// best this system offers here.
func newSleeper() (sleep func(time.Duration), release func()) {
	return time.Sleep, func() {}
}
