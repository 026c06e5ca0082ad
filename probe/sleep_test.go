package probe

import (
	"testing"
	"time"
)

// The scheduler's wait is a sleep, never a spin: against a fake clock
// that moves only when slept on, waiting for a time looks at the clock
// once per sleep, and a sleep that ends early is followed by one more for
// what is left.
func TestWaitUntilSleepsAndNeverSpins(t *testing.T) {
	for _, c := range []struct {
		why string
		// short is how much less than asked each sleep lasts (a signal
		// ending it early).
		short time.Duration
		late  time.Duration
		// sleeps is how many sleeps the wait takes.
		sleeps int
	}{
		{"a sleep that ends on time", 0, 0, 1},
		{"a sleep that ends late", 0, 80 * time.Microsecond, 1},
		{"a sleep cut short", 300 * time.Microsecond, 0, 2},
	} {
		var now int64 = 1000
		var reads, sleeps int
		clock := func() int64 { reads++; return now }
		sleep := func(d time.Duration) {
			sleeps++
			if d > c.short {
				d -= c.short
			}
			now += int64(d + c.late)
		}
		due := now + int64(time.Millisecond)
		waitUntil(due, clock, sleep)
		if now < due {
			t.Errorf("%s: returned at %d, before %d", c.why, now, due)
		}
		if sleeps != c.sleeps || reads != sleeps+1 {
			t.Errorf("%s: %d sleeps and %d clock reads, want %d sleeps and one read more", c.why, sleeps, reads, c.sleeps)
		}
	}
	// A time already past is not waited for.
	reads := 0
	waitUntil(5, func() int64 { reads++; return 10 }, func(time.Duration) { t.Error("slept for a time already past") })
	if reads != 1 {
		t.Errorf("%d clock reads for a time past", reads)
	}
}

// The scheduler's sleep never ends before its time, however short.
func TestSleeperNeverEndsEarly(t *testing.T) {
	sleep, release := newSleeper()
	defer release()
	for _, d := range []time.Duration{time.Nanosecond, 50 * time.Microsecond, 200 * time.Microsecond, 3 * time.Millisecond} {
		for range 20 {
			start := time.Now()
			sleep(d)
			if got := time.Since(start); got < d {
				t.Fatalf("a sleep of %v ended after %v", d, got)
			}
		}
	}
}
