package wasm

import (
	"container/list"
	"context"
	"sync"

	"github.com/tetratelabs/wazero"
)

// compiledSize estimates what a compiled module holds in memory: its
// machine code (mapped outside the Go heap) and wazero's decoded module.
// Compiling the 3.3 MB Go example raised RSS by 21.7 MB, 5.9 MB of it Go
// heap: about 6.5 times the module's bytes, rounded up here.
func compiledSize(wasmBytes int) int64 { return 7 * int64(wasmBytes) }

// moduleCache keeps compiled modules up to a byte budget, least recently
// used out first. An entry taken out while executions use it is closed when
// the last of them releases it, never under a running module.
type moduleCache struct {
	mu      sync.Mutex
	budget  int64
	size    int64
	entries map[string]*list.Element
	lru     list.List // of *cacheEntry, most recently used first
	// flights are the compilations under way: concurrent first executions
	// of a module wait for one compilation instead of each running their
	// own.
	flights map[string]*flight
}

type flight struct {
	done chan struct{}
	err  error
}

// loadedModule is a compiled module and the runtime that instantiates it.
// close releases the module, and the runtime when it is the module's own
// (an approved module compiled through the disk cache, see Engine.module).
type loadedModule struct {
	mod wazero.CompiledModule
	rt  wazero.Runtime
	// reactor: the module exports switchboard_execute and no _start
	// (reactor.go).
	reactor bool
	// tableBytes is what an instance's tables may take of the host at
	// most: wazero keeps a table outside linear memory, 8 bytes an element,
	// and boundTables gave every table a maximum.
	tableBytes int64
	close      func()
}

type cacheEntry struct {
	key     string
	mod     *loadedModule
	size    int64
	users   int
	evicted bool
}

func newModuleCache(budget int64) *moduleCache {
	return &moduleCache{budget: budget, entries: map[string]*list.Element{}, flights: map[string]*flight{}}
}

func (c *moduleCache) stats() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.size
}

// acquire returns the module for k, from the cache or from compile (one
// compilation at a time per key), and the func that releases the caller's
// use of it. A module larger than the whole budget is not kept: it is
// closed on release.
func (c *moduleCache) acquire(ctx context.Context, k string, size int64, compile func() (*loadedModule, error)) (*loadedModule, func(), error) {
	for {
		c.mu.Lock()
		if el, ok := c.entries[k]; ok {
			c.lru.MoveToFront(el)
			e := el.Value.(*cacheEntry)
			e.users++
			c.mu.Unlock()
			return e.mod, c.releaser(e), nil
		}
		if f, ok := c.flights[k]; ok {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, nil, context.Cause(ctx)
			}
			if f.err != nil {
				return nil, nil, f.err
			}
			continue
		}
		f := &flight{done: make(chan struct{})}
		c.flights[k] = f
		c.mu.Unlock()

		m, err := compile()

		c.mu.Lock()
		delete(c.flights, k)
		f.err = err
		close(f.done)
		if err != nil {
			c.mu.Unlock()
			return nil, nil, err
		}
		e := &cacheEntry{key: k, mod: m, size: size, users: 1}
		if size > c.budget {
			e.evicted = true
		} else {
			for c.size+size > c.budget {
				c.evictOldest()
			}
			c.entries[k] = c.lru.PushFront(e)
			c.size += size
		}
		c.mu.Unlock()
		return m, c.releaser(e), nil
	}
}

// evictOldest takes the least recently used entry out; c.mu is held.
func (c *moduleCache) evictOldest() {
	el := c.lru.Back()
	if el == nil {
		return
	}
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.entries, e.key)
	c.size -= e.size
	e.evicted = true
	if e.users == 0 {
		e.mod.close()
	}
}

// remove takes k out, if cached; it is closed once no execution uses it.
func (c *moduleCache) remove(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return
	}
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.entries, k)
	c.size -= e.size
	e.evicted = true
	if e.users == 0 {
		e.mod.close()
	}
}

func (c *moduleCache) releaser(e *cacheEntry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			e.users--
			if e.evicted && e.users == 0 {
				e.mod.close()
			}
		})
	}
}

// clear takes every entry out (the engine is closing; its runtimes close
// the modules).
func (c *moduleCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.lru.Len() > 0 {
		c.evictOldest()
	}
}
