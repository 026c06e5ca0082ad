package probe

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/capfinder/capfinder/datasets"
	"github.com/capfinder/capfinder/probe/rundir"
)

// counting numbers its payloads in the order they are drawn.
type counting struct{ n int64 }

func (c *counting) Next() (datasets.Payload, bool) {
	c.n++
	return datasets.Payload{Index: c.n}, true
}

// sent is what a shared schedule must reproduce of a request: its
// number, its scheduled time and its payload.
type sent struct{ seq, scheduled, payload int64 }

// sendShared runs two Poisson steps, at stated times on one clock, from
// len(shards) engines sharing the schedule, and returns every record.
func sendShared(t *testing.T, shards []Shard) []rundir.Record {
	t.Helper()
	clock := NewClock()
	start := int64(50 * time.Millisecond)
	loads := []Load{
		{At: start, Rate: 300, Hold: 400 * time.Millisecond},
		{At: start + int64(400*time.Millisecond), Rate: 700, Hold: 300 * time.Millisecond},
	}
	var (
		mu   sync.Mutex
		recs []rundir.Record
		wg   sync.WaitGroup
	)
	for _, sh := range shards {
		gaps, err := NewSchedule("poisson", 1, 7)
		if err != nil {
			t.Fatal(err)
		}
		mw := &memWriter{}
		e, err := NewEngine(EngineConfig{
			Client: &fakeClient{delay: time.Millisecond}, Source: &counting{}, Schedule: gaps,
			Writer: mw, Clock: clock, Shard: sh, Agent: int32(sh.Index), StopGrace: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		e.Start()
		wg.Go(func() {
			for _, l := range loads {
				if _, err := e.Step(context.Background(), l); err != nil {
					t.Error(err)
				}
			}
			if _, err := e.Stop(); err != nil {
				t.Error(err)
			}
			mu.Lock()
			recs = append(recs, mw.recs...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return recs
}

// sends lists what records sent, in schedule order, each relative to
// its step's start.
func sends(recs []rundir.Record) []sent {
	var out []sent
	for _, r := range recs {
		out = append(out, sent{r.Seq, r.ScheduledNs, r.Payload})
	}
	slices.SortFunc(out, func(a, b sent) int { return int(a.seq - b.seq) })
	return out
}

// Generators sharing a schedule send, together, exactly what one sends:
// the same numbers, scheduled times and payloads, each its own residue.
func TestShardsSendOneSchedule(t *testing.T) {
	one := sends(sendShared(t, []Shard{{0, 1}}))
	if len(one) < 150 {
		t.Fatalf("one engine sent %d requests, want about 330", len(one))
	}
	for _, n := range []int{2, 3} {
		var shards []Shard
		for i := range n {
			shards = append(shards, Shard{i, n})
		}
		recs := sendShared(t, shards)
		for _, r := range recs {
			if r.Seq%int64(n) != int64(r.Agent) {
				t.Fatalf("%d generators: agent %d sent arrival %d", n, r.Agent, r.Seq)
			}
		}
		// The steps begin at stated times on the shared clock, so the one
		// engine's times compare with the union's. An arrival due just
		// before a cut may be left unsent by a busy machine, by either
		// run: compare those both sent, and require all but a few.
		got := sends(recs)
		byseq := map[int64]sent{}
		for _, s := range one {
			byseq[s.seq] = s
		}
		both := 0
		for i, s := range got {
			if i > 0 && got[i-1].seq == s.seq {
				t.Fatalf("%d generators both sent arrival %d", n, s.seq)
			}
			if o, ok := byseq[s.seq]; ok {
				both++
				if o != s {
					t.Fatalf("%d generators sent arrival %d at %d with payload %d; one engine at %d with %d", n, s.seq, s.scheduled, s.payload, o.scheduled, o.payload)
				}
			}
		}
		if len(got)-both > 4 || len(one)-both > 4 {
			t.Errorf("%d generators sent %d requests, one engine %d, %d of them alike", n, len(got), len(one), both)
		}
	}
}
