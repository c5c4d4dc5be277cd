package analytics

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
)

// SeenFor is how long a counted key is kept: longer than any retry of the
// execution that counted it could come (River gives up on a job within
// days), so a key only ever meets its own retries.
const SeenFor = 60 * 24 * time.Hour

// PruneArgs is the daily job that forgets counted keys older than SeenFor.
type PruneArgs struct{}

// Kind names the job.
func (PruneArgs) Kind() string { return "analytics.prune_seen" }

type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	s *Service
}

func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	_, err := w.s.PruneSeen(db.WithoutTimeout(ctx), time.Now().Add(-SeenFor))
	return err
}

// RegisterJobs adds the daily prune to the runner; call before it opens.
func (s *Service) RegisterJobs(r *jobs.Runner) {
	river.AddWorker(r.Workers(), &pruneWorker{s: s})
	r.AddPeriodic(24*time.Hour, func() river.JobArgs { return PruneArgs{} })
}

// PruneSeen deletes counted keys recorded before cutoff, in batches, and
// returns how many. The counters themselves stay.
func (s *Service) PruneSeen(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.db.Tx(ctx, func(tx *db.Tx) error {
			// Every workspace's keys: pruning is the system's.
			res, err := tx.ExecContext(ctx, `DELETE FROM plugin_analytics_seen WHERE (workspace_id, installation_id, event_key) IN
				(SELECT workspace_id, installation_id, event_key FROM plugin_analytics_seen WHERE created_at < $1 LIMIT 1000)`, cutoff.UTC())
			if err != nil {
				return err
			}
			n, _ = res.RowsAffected()
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("prune counted keys: %w", err)
		}
		total += n
		if n < 1000 {
			return total, nil
		}
	}
}
