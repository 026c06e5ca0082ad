package probe

import (
	"time"

	"golang.org/x/sys/unix"
)

// preciseSleep sleeps d in the kernel (nanosleep), accurate to tens of
// microseconds where the runtime's timers are accurate to a millisecond.
// It first asks the kernel to end the thread's sleeps within a
// microsecond (timer slack; the default of 50 µs would show in every send
// lag): the goroutine may be on another thread than last time.
func preciseSleep(d time.Duration) {
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil)
}
