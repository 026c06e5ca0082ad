//go:build !linux

package probe

import "time"

// preciseSleep sleeps d on the runtime's timers, the best this system
// offers here.
func preciseSleep(d time.Duration) { time.Sleep(d) }
