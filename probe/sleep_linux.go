package probe

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// newSleeper returns the scheduler's precise sleep and what releases it.
// It waits on a timer file descriptor read through the runtime's network
// poller: the kernel's high-resolution timer ends it within microseconds
// (the runtime's own timers round to the poller's millisecond), and the
// waiting goroutine holds no processor meanwhile, so the workers send and
// read answers while the scheduler waits, even with GOMAXPROCS=1. Where
// no timer descriptor can be had (out of descriptors), it sleeps in the
// kernel with nanosleep instead, which holds the processor.
func newSleeper() (sleep func(time.Duration), release func()) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nanosleep, func() {}
	}
	// A non-blocking descriptor is read through the poller.
	f := os.NewFile(uintptr(fd), "timerfd")
	var buf [8]byte
	return func(d time.Duration) {
		// A zero time disarms the timer rather than firing it.
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(max(int64(d), 1))}
		if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
			nanosleep(d)
			return
		}
		if _, err := f.Read(buf[:]); err != nil {
			nanosleep(d)
		}
	}, func() { f.Close() }
}

// nanosleep sleeps d in the kernel, having asked it to end the thread's
// sleeps within a microsecond (timer slack; the default of 50 µs would
// show in every send lag).
func nanosleep(d time.Duration) {
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil)
}
