package probe

import (
	"container/heap"
	"sync"

	"github.com/capfinder/capfinder/datasets"
)

// followUps are the conversations' next turns waiting for their time: a
// turn is due its think time after the answer before it. Workers add to
// them and the scheduler takes from them, so they are guarded; wake tells
// a waiting scheduler that an earlier turn may have come.
type followUps struct {
	mu    sync.Mutex
	turns turnHeap
	wake  chan struct{} // capacity 1, never blocks
}

type turn struct {
	due int64
	// seq is the conversation's first arrival's number, which every turn
	// of it carries.
	seq     int64
	payload datasets.Payload
}

// turnHeap orders turns by their due time.
type turnHeap []turn

func (h turnHeap) Len() int           { return len(h) }
func (h turnHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h turnHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *turnHeap) Push(x any)        { *h = append(*h, x.(turn)) }
func (h *turnHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = turn{}
	*h = old[:len(old)-1]
	return t
}

// follow schedules a conversation's next turn at due.
func (e *Engine) follow(p datasets.Payload, seq, due int64) {
	f := &e.followUps
	f.mu.Lock()
	heap.Push(&f.turns, turn{due: due, seq: seq, payload: p})
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// next returns when the earliest waiting turn is due.
func (f *followUps) next() (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.turns) == 0 {
		return 0, false
	}
	return f.turns[0].due, true
}

// pop takes the earliest waiting turn.
func (f *followUps) pop() turn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return heap.Pop(&f.turns).(turn)
}
