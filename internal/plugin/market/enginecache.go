package market

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// forget drops a yanked version's runner and what the engine keeps of its
// module (its idle instances and its machine code on disk), so that only
// APPROVED versions stay in the disk cache. Installations still running
// the version load it again, compiled in memory only. Other nodes drop it
// at their next sweep (PruneEngineCache).
func (s *Service) forget(ctx context.Context, v Version) {
	s.mu.Lock()
	delete(s.runners, v.ID)
	s.mu.Unlock()
	// Another version may be the same module, approved.
	var approved int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM marketplace_versions WHERE wasm_sha256 = $1 AND status = 'APPROVED'`,
		v.WasmSHA256).Scan(&approved); err != nil || approved > 0 {
		return
	}
	if err := s.engine.Forget(v.WasmSHA256); err != nil {
		slog.WarnContext(ctx, "plugin compilation cache: removing a yanked module failed", "version", v.ID, "err", err)
	}
}

// PruneEngineCache removes from the engine's disk cache every module that
// is not the module of an APPROVED version, answering how many, and tells
// this node's runners whether their version is still APPROVED, so that a
// version yanked on another node is compiled in memory only from then on.
// The server calls it at start and every SweepEngineCacheEvery (a yank on
// another node reaches this one's disk within that).
func (s *Service) PruneEngineCache(ctx context.Context) (int, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT DISTINCT wasm_sha256 FROM marketplace_versions WHERE status = 'APPROVED'`)
	if err != nil {
		return 0, fmt.Errorf("approved modules: %w", err)
	}
	defer rows.Close()
	approved := map[string]bool{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return 0, fmt.Errorf("approved modules: %w", err)
		}
		approved[h] = true
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("approved modules: %w", err)
	}
	// A runner whose version was yanked elsewhere also drops what the
	// engine compiled of it for the disk (and its idle instances), as
	// forget does on the node that yanked it: it compiles in memory next.
	yanked := map[string]bool{}
	s.mu.Lock()
	for _, r := range s.runners {
		ok := approved[r.Hash()]
		if !ok && r.Approved() {
			yanked[r.Hash()] = true
		}
		r.SetApproved(ok)
	}
	s.mu.Unlock()
	for h := range yanked {
		if err := s.engine.Forget(h); err != nil {
			return 0, err
		}
	}
	n, err := s.engine.PruneCache(approved)
	return n + len(yanked), err
}

// SweepEngineCacheEvery is how often each node prunes its compilation
// cache of modules yanked elsewhere.
const SweepEngineCacheEvery = time.Minute

// SweepEngineCache runs PruneEngineCache every SweepEngineCacheEvery until
// ctx ends. A failure only leaves a module on disk until the next sweep,
// so it is logged.
func (s *Service) SweepEngineCache(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(SweepEngineCacheEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.PruneEngineCache(ctx); err != nil && ctx.Err() == nil {
			log.Warn("plugin compilation cache: prune failed", "err", err)
		} else if n > 0 {
			log.Info("plugin compilation cache: removed modules no longer approved", "count", n)
		}
	}
}
