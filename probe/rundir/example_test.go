package rundir_test

import (
	"fmt"
	"time"

	"github.com/capfinder/capfinder/probe/rundir"
)

// A step accumulator judges the requests scheduled in the step's judged
// stretch; one still unanswered at the step's end counts at its age, and
// accumulators of the same step from two generators merge.
func ExampleAcc() {
	ms := int64(time.Millisecond)
	b := rundir.Bounds{Start: 0, End: 1000 * ms, JudgedStart: 100 * ms, JudgedEnd: 900 * ms}
	one := rundir.NewAcc(1, b, rundir.Judging{})
	two := rundir.NewAcc(1, b, rundir.Judging{})
	for i := range int64(10) {
		sched := i * 100 * ms
		r := rundir.Record{Step: 1, ScheduledNs: sched, SentNs: sched, EndNs: sched + 20*ms, Status: 200, Seq: i + 1}
		if i == 8 {
			r.EndNs = sched + 500*ms // answered after the step's end
		}
		if i%2 == 0 {
			one.Add(&r)
		} else {
			two.Add(&r)
		}
	}
	if err := one.Merge(two); err != nil {
		fmt.Println(err)
		return
	}
	s := one.Stats(b.End, b.JudgedEnd, nil)
	fmt.Printf("sent %d, judged %d: %d ok, %d pending\n", s.Sent, s.Samples, s.OK, s.Pending)
	// Histograms keep three significant digits.
	fmt.Println("p50", rundir.Quantile(s.Latency, 0.5).Round(time.Millisecond), "max", rundir.Max(s.Latency).Round(time.Millisecond))
	// Output:
	// sent 10, judged 8: 7 ok, 1 pending
	// p50 20ms max 200ms
}
