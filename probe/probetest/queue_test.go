package probetest

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// fire sends n requests from c goroutines to url and counts answers by
// status.
func fire(t *testing.T, url string, n, c int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[int]int{}
	jobs := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: c}}
	var wg sync.WaitGroup
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				resp, err := client.Get(url)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				counts[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return counts
}

func serve(t *testing.T, q *Queue) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Serve(ctx, "127.0.0.1:0", q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); s.Wait() })
	return s.URL
}

func TestQueueCapacity(t *testing.T) {
	q := NewQueue(QueueConfig{Workers: 4, ServiceTime: 10 * time.Millisecond, RateLimit: 0})
	if c := q.Capacity(); c != 400 {
		t.Errorf("capacity %v, want 4 / 10 ms = 400", c)
	}
	if c := NewQueue(QueueConfig{Workers: 4, ServiceTime: 10 * time.Millisecond, RateLimit: 150}).Capacity(); c != 150 {
		t.Errorf("capacity with a rate limit %v, want 150", c)
	}
}

func TestQueueVirtualScheduleSaturates(t *testing.T) {
	// Admission alone, without HTTP: 1000 arrivals at once onto 4 workers
	// of constant 10 ms finish 250 per worker, the last at 2.5 s.
	q := NewQueue(QueueConfig{Workers: 4, ServiceTime: 10 * time.Millisecond, Distribution: Constant, QueueLimit: -1})
	now := time.Now()
	var last time.Time
	for i := 0; i < 1000; i++ {
		done, status := q.admit(now)
		if status != http.StatusOK {
			t.Fatalf("arrival %d: status %d", i, status)
		}
		if done.After(last) {
			last = done
		}
	}
	if got := last.Sub(now); got < 2500*time.Millisecond-time.Millisecond || got > 2500*time.Millisecond+time.Millisecond {
		t.Errorf("the last of 1000 finishes after %v, want 2.5 s", got)
	}
}

func TestQueueRejectsWhenFull(t *testing.T) {
	q := NewQueue(QueueConfig{Workers: 1, ServiceTime: time.Second, Distribution: Constant, QueueLimit: 3})
	now := time.Now()
	var statuses []int
	for i := 0; i < 6; i++ {
		_, s := q.admit(now)
		statuses = append(statuses, s)
	}
	// One in service, three waiting, the rest turned away.
	want := []int{200, 200, 200, 200, 503, 503}
	for i := range want {
		if statuses[i] != want[i] {
			t.Fatalf("statuses %v, want %v", statuses, want)
		}
	}
}

func TestQueueInjectsErrors(t *testing.T) {
	q := NewQueue(QueueConfig{Workers: 64, ServiceTime: time.Microsecond, ErrorRate: 0.2, Seed: 7})
	counts := fire(t, serve(t, q), 2000, 8)
	frac := float64(counts[500]) / 2000
	// Binomial(2000, 0.2) has a standard deviation of 0.009.
	if frac < 0.16 || frac > 0.24 {
		t.Errorf("error fraction %.3f, want 0.2 (counts %v)", frac, counts)
	}
	if s := q.Stats(); s.Failed != int64(counts[500]) || s.Served != int64(counts[200]) {
		t.Errorf("stats %+v disagree with answers %v", s, counts)
	}
}

func TestQueueRateLimit(t *testing.T) {
	q := NewQueue(QueueConfig{Workers: 64, ServiceTime: time.Microsecond, RateLimit: 10, Burst: 5})
	counts := fire(t, serve(t, q), 50, 1)
	// 50 back-to-back requests in well under a second: the burst of 5 and
	// a few refills pass, the rest are limited.
	if counts[429] < 30 || counts[200] < 5 {
		t.Errorf("answers %v, want most limited", counts)
	}
}

func TestQueueLatencyAtLowLoad(t *testing.T) {
	q := NewQueue(QueueConfig{Workers: 2, ServiceTime: 20 * time.Millisecond, Distribution: Constant})
	url := serve(t, q)
	for i := 0; i < 5; i++ {
		start := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// Never faster than the service time; slower only by scheduling.
		if d := time.Since(start); d < 20*time.Millisecond || d > 2*time.Second {
			t.Errorf("request took %v with a 20 ms service time", d)
		}
	}
}
