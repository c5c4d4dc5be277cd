package db

import "sync"

// Batcher hands the work that callers bring at the same time to one of
// them, who does it as one batch: group commit's pattern (GroupTx), and
// that of statements written for many callers at once. The caller that
// finds nobody leading leads, so a lone call costs no hand-off to another
// goroutine; a leader does one batch (its own, with whatever queued
// before it), then hands the lead to the first caller still queued, so
// none is kept from its answer by the load behind it.
type Batcher[T any] struct {
	max int
	do  func(batch []T)

	mu    sync.Mutex
	queue []*batchCall[T]
	// running is set while a leader runs or has been woken.
	running bool
}

type batchCall[T any] struct {
	item T
	done chan struct{}
	// wake tells a waiting caller that it leads now.
	wake chan struct{}
}

// NewBatcher returns a Batcher whose batches hold at most max items (so
// the last of them is not kept waiting behind an unbounded number of
// others) and are done by do. do must not panic on its own account; a
// panic leaves its batch done and the next batch led.
func NewBatcher[T any](max int, do func(batch []T)) *Batcher[T] {
	return &Batcher[T]{max: max, do: do}
}

// Join adds item to the next batch and returns once a batch holding it
// has been done.
func (b *Batcher[T]) Join(item T) {
	c := &batchCall[T]{item: item, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if lead {
		b.lead()
	}
	for {
		select {
		case <-c.done:
			return
		case <-c.wake:
			b.lead()
		}
	}
}

// lead does one batch, then hands the lead on.
func (b *Batcher[T]) lead() {
	b.mu.Lock()
	n := min(len(b.queue), b.max)
	calls := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()
	// Deferred: even if do panics, the batch is answered and the next one
	// gets a leader.
	defer func() {
		for _, c := range calls {
			close(c.done)
		}
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.queue = nil
			b.running = false
		} else {
			b.queue[0].wake <- struct{}{}
		}
		b.mu.Unlock()
	}()
	items := make([]T, n)
	for i, c := range calls {
		items[i] = c.item
	}
	b.do(items)
}
