package market

import (
	"context"
	"fmt"
	"log/slog"
)

// forget drops a yanked version's runner and what the engine keeps of its
// module (its idle instances and its machine code on disk), so that only
// APPROVED versions stay in the disk cache. Installations still running
// the version load it again, compiled in memory only. Other nodes drop it
// at their next start (PruneEngineCache).
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
// is not the module of an APPROVED version. The server calls it at start.
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
	return s.engine.PruneCache(approved)
}
