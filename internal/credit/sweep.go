package credit

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/jobs"
)

// sweepArgs releases reservations nobody settled (their holder crashed).
type sweepArgs struct{}

func (sweepArgs) Kind() string { return "credit.release_expired" }

type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	s *Service
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	_, err := w.s.ReleaseExpired(ctx, time.Now())
	return err
}

// RegisterJobs adds the sweep of expired reservations (every five minutes,
// once per cluster) to the runner.
func (s *Service) RegisterJobs(r *jobs.Runner) {
	river.AddWorker(r.Workers(), &sweepWorker{s: s})
	r.AddPeriodic(5*time.Minute, func() river.JobArgs { return sweepArgs{} })
}
