package probe

import "time"

// timerSlop is how late the runtime's timers may wake: they wait in the
// network poller, whose timeout is in whole milliseconds. A wait longer
// than this is left to a timer (the scheduler can take a new load
// meanwhile); the rest is slept precisely.
const timerSlop = 2 * time.Millisecond

// minWake is the shortest time between two of the scheduler's precise
// wake-ups. Arming a timer costs microseconds (in a virtual machine, a
// trap to the hypervisor), as much as sending a request: above 1/minWake
// requests a second, those due within one wake-up leave together, each
// at most minWake late, rather than the scheduler spending a core on its
// timer.
const minWake = 50 * time.Microsecond

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
