package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
)

// cleanupArgs is the hourly sweep of dead credentials.
type cleanupArgs struct{}

func (cleanupArgs) Kind() string { return "auth.cleanup" }

type cleanupWorker struct {
	river.WorkerDefaults[cleanupArgs]
	s *Service
}

// keepDead is how long expired or used credentials stay for investigation.
const keepDead = 30 * 24 * time.Hour

func (w *cleanupWorker) Work(ctx context.Context, _ *river.Job[cleanupArgs]) error {
	_, err := w.s.Cleanup(db.WithoutTimeout(ctx), time.Now().Add(-keepDead))
	return err
}

// RegisterJobs adds the service's background work to the runner.
func (s *Service) RegisterJobs(r *jobs.Runner) {
	river.AddWorker(r.Workers(), &cleanupWorker{s: s})
	r.AddPeriodic(time.Hour, func() river.JobArgs { return cleanupArgs{} })
}

// Cleanup deletes sessions, refresh tokens, reset, verification and sign-in
// challenge tokens that expired or were used before cutoff, passkey
// ceremonies that expired, and stale rate-limit windows.
// Audit rows are never deleted.
func (s *Service) Cleanup(ctx context.Context, cutoff time.Time) (int64, error) {
	cutoff = cutoff.UTC()
	var total int64
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		for _, q := range []string{
			`DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE expires_at < $1 OR revoked_at < $1)`,
			`DELETE FROM sessions WHERE (expires_at < $1 OR revoked_at < $1) AND id NOT IN (SELECT session_id FROM refresh_tokens)`,
			`DELETE FROM password_reset_tokens WHERE expires_at < $1 OR used_at < $1`,
			`DELETE FROM email_verification_tokens WHERE expires_at < $1 OR used_at < $1`,
			`DELETE FROM mfa_challenges WHERE expires_at < $1`,
		} {
			res, err := tx.ExecContext(ctx, q, cutoff)
			if err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
			n, _ := res.RowsAffected()
			total += n
		}
		// A passkey ceremony is void 5 minutes after it began.
		res, err := tx.ExecContext(ctx, `DELETE FROM webauthn_ceremonies WHERE expires_at < $1`, db.Now())
		if err != nil {
			return fmt.Errorf("cleanup webauthn ceremonies: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		res, err = tx.ExecContext(ctx, `DELETE FROM rate_limits WHERE window_start < $1`, time.Now().Add(-time.Hour).Unix())
		if err != nil {
			return fmt.Errorf("cleanup rate limits: %w", err)
		}
		n, _ = res.RowsAffected()
		total += n
		return nil
	})
	return total, err
}
