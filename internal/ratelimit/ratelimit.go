// Package ratelimit counts requests per key in fixed windows stored in the
// database, so every node of a cluster enforces one shared limit.
package ratelimit

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/internal/db"
)

// Limiter enforces per-key request budgets.
type Limiter struct {
	db    *db.DB
	calls atomic.Int64
}

// New returns a limiter backed by d.
func New(d *db.DB) *Limiter { return &Limiter{db: d} }

// Result says whether a request may proceed and, if not, when to retry.
type Result struct {
	Allowed    bool
	Count      int
	RetryAfter time.Duration
}

// Allow counts one request for key in the current window of length per and
// reports whether it is within limit. The count is one atomic upsert, so
// parallel requests on any node cannot exceed the limit together.
func (l *Limiter) Allow(ctx context.Context, key string, limit int, per time.Duration) (Result, error) {
	now := time.Now()
	window := now.Truncate(per)
	var count int
	err := l.db.Tx(ctx, func(tx *db.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1)
			ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1
			RETURNING count`, key, window.Unix()).Scan(&count)
	})
	if err != nil {
		return Result{}, fmt.Errorf("rate limit %s: %w", key, err)
	}
	// Old windows are dead weight; sweep them now and then.
	if l.calls.Add(1)%1000 == 0 {
		_ = l.db.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM rate_limits WHERE window_start < $1`, window.Add(-time.Hour).Unix())
			return err
		})
	}
	if count > limit {
		return Result{Allowed: false, Count: count, RetryAfter: window.Add(per).Sub(now)}, nil
	}
	return Result{Allowed: true, Count: count}, nil
}
