package db

import (
	"runtime"
	"sync"
)

// Batcher hands the work that callers bring at the same time to one
// goroutine, which does it as one batch: group commit's pattern (GroupTx),
// and that of statements written for many callers at once.
//
// The caller that finds nobody at work does its own batch, so a lone call
// costs no hand-off to another goroutine. If others queued meanwhile, it
// starts a drainer and goes to its answer: none is kept from its answer by
// the load behind it. The drainer does batch after batch while callers keep
// coming and ends when the queue is empty. The work stays on one running
// goroutine under load: handing it from caller to caller after every batch
// (as Batcher once did) left the single SQLite writer idle while each new
// leader waited its turn on a busy CPU behind the requests that fill its
// queue (docs/benchmarks.md).
type Batcher[T any] struct {
	max int
	do  func(batch []T)

	mu    sync.Mutex
	queue []*batchCall[T]
	// running is set while a caller's batch or the drainer is at work.
	running bool
}

type batchCall[T any] struct {
	item T
	done chan struct{}
	// pan is do's panic, raised again in each caller of its batch.
	pan any
}

// NewBatcher returns a Batcher whose batches hold at most max items (so
// the last of them is not kept waiting behind an unbounded number of
// others) and are done by do. do must not panic on its own account; if it
// does, every caller of that batch panics with its value and the next
// batch is done as usual.
func NewBatcher[T any](max int, do func(batch []T)) *Batcher[T] {
	return &Batcher[T]{max: max, do: do}
}

// Join adds item to the next batch and returns once a batch holding it
// has been done.
func (b *Batcher[T]) Join(item T) {
	c := &batchCall[T]{item: item, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if lead {
		// The queue was empty: this batch holds c.
		b.batch()
		if b.more() {
			go b.drain()
		}
	}
	<-c.done
	if c.pan != nil {
		panic(c.pan)
	}
}

// drain does batches until the queue is empty. Before each it lets the
// goroutines ready to run go first: on a busy machine those are the
// requests about to join, so batches grow with the load (and the cost of a
// commit is shared by more), while on an idle one it goes on at once.
func (b *Batcher[T]) drain() {
	for {
		runtime.Gosched()
		b.batch()
		if !b.more() {
			return
		}
	}
}

// more says whether callers are queued; when none is, nobody is at work
// any longer.
func (b *Batcher[T]) more() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.queue = nil
		b.running = false
		return false
	}
	return true
}

// batch does one batch of the queue's first calls and answers them.
func (b *Batcher[T]) batch() {
	b.mu.Lock()
	n := min(len(b.queue), b.max)
	calls := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()
	items := make([]T, n)
	for i, c := range calls {
		items[i] = c.item
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				for _, c := range calls {
					c.pan = p
				}
			}
		}()
		b.do(items)
	}()
	for _, c := range calls {
		close(c.done)
	}
}
