package jobs

import (
	"context"

	"github.com/switchboard/switchboard/internal/db"
)

// PromoteDue makes the scheduled jobs of one kind whose time has come
// available to workers and returns how many: what River's scheduler does
// for every kind, but only every 5 s, and its interval is not
// configurable. A kind that waits on purpose (a workflow's delay) calls it
// more often so a 1 s wait does not take 6.
func PromoteDue(ctx context.Context, d *db.DB, kind string) (int64, error) {
	now := `now()`
	if d.Dialect == db.SQLite {
		// riversqlite keeps times as text in SQLite's datetime format.
		now = `datetime('now', 'subsec')`
	}
	// A read first: most passes find nothing and need not take the SQLite
	// writer.
	var due bool
	if err := d.Read().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM river_job
		WHERE state = 'scheduled' AND kind = $1 AND scheduled_at <= `+now+`)`, kind).Scan(&due); err != nil || !due {
		return 0, err
	}
	var n int64
	err := d.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.Tx.ExecContext(ctx, `UPDATE river_job SET state = 'available'
			WHERE state = 'scheduled' AND kind = $1 AND scheduled_at <= `+now, kind)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
