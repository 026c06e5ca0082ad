//go:build !linux

package probe

import "time"

// preciseThread has nothing to tune on this system.
func preciseThread() {}

// preciseSleep sleeps d on the runtime's timers, the best this system
// offers here.
func preciseSleep(d time.Duration) { time.Sleep(d) }
