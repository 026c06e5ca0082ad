package probe

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// preciseThread locks the calling goroutine to its OS thread and asks the
// kernel to wake that thread's sleeps within a microsecond of their end
// (timer slack; the default of 50 µs would show in every send lag). The
// scheduler calls it once.
func preciseThread() {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
}

// preciseSleep sleeps d in the kernel (nanosleep), accurate to tens of
// microseconds where the runtime's timers are accurate to a millisecond.
func preciseSleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil)
}
