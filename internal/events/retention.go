package events

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/db"
)

// DeliveryRetention is how long a finished delivery and its log are kept.
const DeliveryRetention = 30 * 24 * time.Hour

// pruneArgs is the hourly job that deletes finished deliveries older than
// DeliveryRetention.
type pruneArgs struct{}

func (pruneArgs) Kind() string { return "events.prune" }

type pruneWorker struct {
	river.WorkerDefaults[pruneArgs]
	s *Service
}

func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[pruneArgs]) error {
	_, err := w.s.PruneDeliveries(db.WithoutTimeout(ctx), time.Now().Add(-DeliveryRetention))
	return err
}

// PruneDeliveries deletes the succeeded and failed deliveries last touched
// before `before`, with their logs, in batches, and returns how many. It
// walks every workspace: retention is the system's. Pending deliveries stay.
func (s *Service) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.db.Tx(ctx, func(tx *db.Tx) error {
			const batch = `SELECT id FROM event_deliveries WHERE status <> 'pending' AND updated_at < $1 ORDER BY id LIMIT 500`
			if _, err := tx.ExecContext(ctx, `DELETE FROM event_delivery_attempts WHERE delivery_id IN (`+batch+`)`, before); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM event_deliveries WHERE id IN (`+batch+`)`, before)
			if err != nil {
				return err
			}
			n, _ = res.RowsAffected()
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("prune deliveries: %w", err)
		}
		total += n
		if n < 500 {
			return total, nil
		}
	}
}
