package wasm

import (
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryAllocator backs the linear memory of one execution. On Linux it
// reserves the memory's maximum (the plan's ramMb at most) as one anonymous
// mapping and lets the kernel commit pages as the module touches them, so
// memory.grow neither copies nor leaves the old buffer behind for the
// garbage collector: without it, wazero grows a Go slice by append, and
// growing to the cap briefly holds the old and new buffers and the garbage
// of every earlier step, about three times the cap. The mapping is outside
// the Go heap and goes back to the system when the execution ends.
// Elsewhere it falls back to a Go slice, as wazero does.
//
// It also enforces the plan's ramMb: the engine's runtime allows every
// module the largest plan's memory, and Reallocate refuses growth beyond
// limit, so a refusal is seen here and the failure can name the limit.
type memoryAllocator struct {
	limit uint64 // bytes
	mu    sync.Mutex
	mems  []*linearMemory
	// refused is set when a growth past limit was refused.
	refused atomic.Bool
}

// Allocate implements experimental.MemoryAllocator.
func (a *memoryAllocator) Allocate(capacity, maxBytes uint64) experimental.LinearMemory {
	m := &linearMemory{max: min(maxBytes, a.limit), owner: a}
	if buf, ok := reserve(m.max); ok {
		m.buf, m.mapped = buf, true
	} else {
		m.buf = make([]byte, 0, min(capacity, m.max))
	}
	a.mu.Lock()
	a.mems = append(a.mems, m)
	a.mu.Unlock()
	return m
}

// limitHit reports whether the module asked for more memory than the limit.
func (a *memoryAllocator) limitHit() bool {
	return a.refused.Load()
}

// release frees every memory wazero has not freed (an instantiation that
// failed half way). Call it once the module no longer runs.
func (a *memoryAllocator) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range a.mems {
		m.Free()
	}
}

type linearMemory struct {
	owner  *memoryAllocator
	mu     sync.Mutex
	buf    []byte
	size   uint64
	max    uint64
	mapped bool
	freed  bool
}

// Reallocate implements experimental.LinearMemory: nil refuses the growth,
// which memory.grow reports to the module as -1.
func (m *linearMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.freed {
		return nil
	}
	if size > m.max {
		if size > m.owner.limit {
			m.owner.refused.Store(true)
		}
		return nil
	}
	if m.mapped {
		m.size = size
		return m.buf[:size:size]
	}
	if size > uint64(cap(m.buf)) {
		grown := make([]byte, size)
		copy(grown, m.buf)
		m.buf = grown
	}
	m.buf = m.buf[:size]
	m.size = size
	return m.buf
}

// Free implements experimental.LinearMemory. wazero calls it when the
// module closes, on the goroutine that ran it.
func (m *linearMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.freed {
		return
	}
	m.freed = true
	if m.mapped {
		unreserve(m.buf)
	}
	m.buf = nil
}

// used is the linear memory the instance had grown to, for metrics.
func (a *memoryAllocator) used() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var n uint64
	for _, m := range a.mems {
		m.mu.Lock()
		n += m.size
		m.mu.Unlock()
	}
	return int64(n)
}
