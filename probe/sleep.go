package probe

import "time"

// timerSlop is how late the runtime's timers may wake: they wait in the
// network poller, whose timeout is in whole milliseconds. A wait longer
// than this is left to a timer (the scheduler can take a new load
// meanwhile); the rest is slept precisely.
const timerSlop = 2 * time.Millisecond

// waitUntil returns once now() reaches due. It sleeps what is left and
// looks again, for a sleep may end early (a signal) or late; it never
// spins, so the generator leaves the CPU to the target.
func waitUntil(due int64, now func() int64, sleep func(time.Duration)) {
	for {
		left := time.Duration(due - now())
		if left <= 0 {
			return
		}
		sleep(left)
	}
}
