package probetest

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Distribution is the shape of the service time.
type Distribution string

const (
	// Exponential service times make the server M/M/c.
	Exponential Distribution = "exponential"
	// Constant service times make it M/D/c.
	Constant Distribution = "constant"
	// LogNormal service times with a coefficient of variation CV.
	LogNormal Distribution = "lognormal"
)

// QueueConfig configures a Queue. Zero fields mean the defaults given.
type QueueConfig struct {
	// Workers is the number of requests served at once (c); default 1.
	Workers int
	// ServiceTime is the mean time a worker spends on a request; default
	// 10 ms.
	ServiceTime time.Duration
	// Distribution of service times; default Exponential. CV is the
	// coefficient of variation of LogNormal (default 1).
	Distribution Distribution
	CV           float64
	// QueueLimit is how many requests may wait for a worker; a request
	// arriving to a full queue is answered 503 at once. Zero means 1000;
	// negative means no limit.
	QueueLimit int
	// ErrorRate is the fraction of admitted requests answered 500.
	ErrorRate float64
	// RateLimit answers 429 at once to requests beyond this many per
	// second (a token bucket holding Burst tokens, default 1); 0 is off.
	RateLimit float64
	Burst     int
	// BodySize is the length of a 200 answer's body; default 2 bytes.
	BodySize int
	Seed     uint64
}

// Queue is an HTTP handler that serves like a first-come-first-served
// queue with c workers. It is modelled in virtual time: each arrival is
// given the worker that frees first and a finish time computed from the
// service-time draw, and the handler sleeps until then. Goroutine
// scheduling therefore does not distort the queue: its capacity and its
// latency are those of the model.
type Queue struct {
	cfg  QueueConfig
	body []byte

	mu      sync.Mutex
	rng     *rand.Rand
	free    freeHeap  // when each worker is next free
	waiting []int64   // finish times of admitted requests still waiting, as a min-heap
	tokens  float64   // rate limiter bucket
	last    time.Time // rate limiter refill time
	epoch   time.Time

	served, rejected, failed, limited atomic.Int64
}

// NewQueue returns a queue server with cfg's zero fields defaulted.
func NewQueue(cfg QueueConfig) *Queue {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.ServiceTime <= 0 {
		cfg.ServiceTime = 10 * time.Millisecond
	}
	if cfg.Distribution == "" {
		cfg.Distribution = Exponential
	}
	if cfg.CV <= 0 {
		cfg.CV = 1
	}
	if cfg.QueueLimit == 0 {
		cfg.QueueLimit = 1000
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 1
	}
	if cfg.BodySize <= 0 {
		cfg.BodySize = 2
	}
	q := &Queue{
		cfg:   cfg,
		body:  []byte(strings.Repeat("x", cfg.BodySize-1) + "\n"),
		rng:   rand.New(rand.NewPCG(cfg.Seed, 0x7175657565)),
		free:  make(freeHeap, cfg.Workers),
		epoch: time.Now(),
	}
	q.tokens = float64(cfg.Burst)
	q.last = q.epoch
	return q
}

// Capacity is the most requests per second the queue serves: c over the
// mean service time, or the rate limit if lower.
func (q *Queue) Capacity() float64 {
	c := float64(q.cfg.Workers) / q.cfg.ServiceTime.Seconds()
	if q.cfg.RateLimit > 0 {
		c = math.Min(c, q.cfg.RateLimit)
	}
	return c
}

// Config returns the configuration with defaults filled in.
func (q *Queue) Config() QueueConfig { return q.cfg }

// QueueStats counts what the queue answered.
type QueueStats struct {
	Served, Rejected, Failed, Limited int64
}

// Stats returns the counts so far; safe to call concurrently.
func (q *Queue) Stats() QueueStats {
	return QueueStats{q.served.Load(), q.rejected.Load(), q.failed.Load(), q.limited.Load()}
}

// serviceTime draws one service time in nanoseconds. Called under mu.
func (q *Queue) serviceTime() float64 {
	mean := float64(q.cfg.ServiceTime)
	switch q.cfg.Distribution {
	case Constant:
		return mean
	case LogNormal:
		s2 := math.Log(1 + q.cfg.CV*q.cfg.CV)
		return mean * math.Exp(q.rng.NormFloat64()*math.Sqrt(s2)-s2/2)
	}
	return mean * q.rng.ExpFloat64()
}

// admit decides what happens to a request arriving now: the time it will
// be done, or the status to answer at once.
func (q *Queue) admit(now time.Time) (done time.Time, status int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := int64(now.Sub(q.epoch))
	if q.cfg.RateLimit > 0 {
		q.tokens = math.Min(float64(q.cfg.Burst), q.tokens+now.Sub(q.last).Seconds()*q.cfg.RateLimit)
		q.last = now
		if q.tokens < 1 {
			return now, http.StatusTooManyRequests
		}
		q.tokens--
	}
	// Requests whose service has started by now are no longer waiting.
	for len(q.waiting) > 0 && q.waiting[0] <= t {
		popMin(&q.waiting)
	}
	start := max(t, q.free[0])
	if start > t && q.cfg.QueueLimit >= 0 && len(q.waiting) >= q.cfg.QueueLimit {
		return now, http.StatusServiceUnavailable
	}
	end := start + int64(q.serviceTime())
	q.free[0] = end
	heap.Fix(&q.free, 0)
	if start > t {
		pushMin(&q.waiting, start)
	}
	status = http.StatusOK
	if q.cfg.ErrorRate > 0 && q.rng.Float64() < q.cfg.ErrorRate {
		status = http.StatusInternalServerError
	}
	return q.epoch.Add(time.Duration(end)), status
}

// ServeHTTP answers after the request's virtual finish time.
func (q *Queue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	done, status := q.admit(time.Now())
	switch status {
	case http.StatusServiceUnavailable:
		q.rejected.Add(1)
		http.Error(w, "queue full", status)
		return
	case http.StatusTooManyRequests:
		q.limited.Add(1)
		http.Error(w, "rate limited", status)
		return
	}
	if d := time.Until(done); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if status != http.StatusOK {
		q.failed.Add(1)
		http.Error(w, "injected failure", status)
		return
	}
	q.served.Add(1)
	w.Header().Set("Content-Length", fmt.Sprint(len(q.body)))
	w.Write(q.body)
}

// freeHeap is a min-heap of the times workers are next free.
type freeHeap []int64

func (h freeHeap) Len() int           { return len(h) }
func (h freeHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h freeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *freeHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *freeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func pushMin(h *[]int64, v int64) { heap.Push((*freeHeap)(h), v) }
func popMin(h *[]int64) int64     { return heap.Pop((*freeHeap)(h)).(int64) }

var _ http.Handler = (*Queue)(nil)
