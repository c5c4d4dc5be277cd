package wasm

import (
	"context"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// instanceOverhead is what an idle instance is counted for beyond its
// linear memory and tables: wazero's module instance and globals. (No call
// stack: callReactor gets a fresh one for each execution.)
const instanceOverhead = 256 << 10

// poolKey names the instances that may serve an execution: one
// installation's, of one module, with one plan's memory limit. Instances
// are never shared across installations.
type poolKey struct {
	installation string
	module       string
	pages        uint32
}

// instance is a live reactor instance and what it needs between calls.
type instance struct {
	key    poolKey
	mod    api.Module
	memory *memoryAllocator
	// tableBytes: loadedModule.tableBytes.
	tableBytes int64
	io         *swapIO
	// release ends the instance's use of its compiled module.
	release func()
	idle    time.Time
	size    int64
}

func (in *instance) close() {
	in.mod.Close(context.Background())
	in.memory.release()
	in.release()
}

// instancePool keeps idle reactor instances for the next execution of the
// same installation: at most max bytes of them (see instance.size), each
// for ttl after its last execution.
type instancePool struct {
	mu      sync.Mutex
	idle    map[poolKey][]*instance
	bytes   int64
	max     int64
	ttl     time.Duration
	reaping bool
	closed  bool
}

func newInstancePool(max int64, ttl time.Duration) *instancePool {
	return &instancePool{idle: map[poolKey][]*instance{}, max: max, ttl: ttl}
}

// take returns an idle instance for k, the most recently used, or nil.
func (p *instancePool) take(k poolKey) *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[k]
	if len(list) == 0 {
		return nil
	}
	in := list[len(list)-1]
	list[len(list)-1] = nil
	if len(list) == 1 {
		delete(p.idle, k)
	} else {
		p.idle[k] = list[:len(list)-1]
	}
	p.bytes -= in.size
	return in
}

// put keeps in for the next execution of its installation, or closes it
// when the pool is over its budget or closed.
func (p *instancePool) put(in *instance) {
	in.size = in.memory.used() + in.tableBytes + instanceOverhead
	in.idle = time.Now()
	p.mu.Lock()
	if p.closed || p.bytes+in.size > p.max {
		p.mu.Unlock()
		in.close()
		return
	}
	p.idle[in.key] = append(p.idle[in.key], in)
	p.bytes += in.size
	start := !p.reaping
	p.reaping = true
	p.mu.Unlock()
	if start {
		go p.reap()
	}
}

// reap closes instances idle for longer than ttl, until none is left.
func (p *instancePool) reap() {
	tick := p.ttl / 4
	for {
		time.Sleep(tick)
		cutoff := time.Now().Add(-p.ttl)
		var expired []*instance
		p.mu.Lock()
		for k, list := range p.idle {
			kept := list[:0]
			for _, in := range list {
				if in.idle.Before(cutoff) {
					expired = append(expired, in)
					p.bytes -= in.size
				} else {
					kept = append(kept, in)
				}
			}
			if len(kept) == 0 {
				delete(p.idle, k)
			} else {
				p.idle[k] = kept
			}
		}
		done := len(p.idle) == 0
		if done {
			p.reaping = false
		}
		p.mu.Unlock()
		for _, in := range expired {
			in.close()
		}
		if done {
			return
		}
	}
}

// drop closes the idle instances whose key matches.
func (p *instancePool) drop(match func(poolKey) bool) {
	var gone []*instance
	p.mu.Lock()
	for k, list := range p.idle {
		if match(k) {
			gone = append(gone, list...)
			for _, in := range list {
				p.bytes -= in.size
			}
			delete(p.idle, k)
		}
	}
	p.mu.Unlock()
	for _, in := range gone {
		in.close()
	}
}

// closeAll closes every idle instance; instances put afterwards are closed.
func (p *instancePool) closeAll() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.drop(func(poolKey) bool { return true })
}

// stats reports the idle instances and their counted bytes.
func (p *instancePool) stats() (n int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, list := range p.idle {
		n += len(list)
	}
	return n, p.bytes
}
