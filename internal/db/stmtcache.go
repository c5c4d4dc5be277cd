package db

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements by query text. SQLite (through
// modernc) re-parses a query on every call otherwise, and parsing costs more
// than running the small indexed queries that serve most requests.
// database/sql re-prepares a cached statement on each pool connection it
// meets, so one entry serves the whole pool.
type stmtCache struct {
	db      *sql.DB
	mu      sync.RWMutex
	m       map[string]*sql.Stmt
	pending map[string]struct{}
	closed  bool
}

// maxCachedStmts bounds the cache: queries built from filters vary, and
// those past the bound simply run unprepared.
const maxCachedStmts = 512

func newStmtCache(d *sql.DB) *stmtCache {
	return &stmtCache{db: d, m: map[string]*sql.Stmt{}, pending: map[string]struct{}{}}
}

func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	c.mu.RLock()
	s, full := c.m[q], len(c.m) >= maxCachedStmts
	c.mu.RUnlock()
	if s != nil || full {
		return s
	}
	// Prepare without holding the lock: preparing waits for a connection,
	// and a goroutine holding one may need the lock for its next query.
	s, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		// Let the unprepared path report the error in its usual place.
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.m[q]; prev != nil || c.closed {
		s.Close()
		return prev
	}
	c.m[q] = s
	return s
}

// lookup returns the cached statement for q, or nil without waiting. A
// transaction holding SQLite's single writer connection must not wait for
// a connection to prepare on, so it runs an unknown query unprepared and
// has it prepared in the background once the connection is free.
func (c *stmtCache) lookup(q string) *sql.Stmt {
	c.mu.RLock()
	s := c.m[q]
	c.mu.RUnlock()
	return s
}

// prepareLater prepares q for future transactions.
func (c *stmtCache) prepareLater(q string) {
	c.mu.Lock()
	if _, ok := c.pending[q]; ok || len(c.m)+len(c.pending) >= maxCachedStmts {
		c.mu.Unlock()
		return
	}
	c.pending[q] = struct{}{}
	c.mu.Unlock()
	go func() {
		s, err := c.db.PrepareContext(context.Background(), q)
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.pending, q)
		if err == nil {
			if c.closed {
				s.Close()
				return
			}
			c.m[q] = s
		}
	}()
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	c.m = map[string]*sql.Stmt{}
	c.closed = true
}

// cachedQuerier runs queries through a statement cache.
type cachedQuerier struct {
	db    *sql.DB
	cache *stmtCache
}

func (q cachedQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := q.cache.get(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return q.db.ExecContext(ctx, query, args...)
}

func (q cachedQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := q.cache.get(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return q.db.QueryContext(ctx, query, args...)
}

func (q cachedQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := q.cache.get(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return q.db.QueryRowContext(ctx, query, args...)
}
