package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
)

// Route says whose work a job is and how urgent.
type Route struct {
	WorkspaceID string
	Plan        actor.Plan
	// Priority puts the job in the paid priority queue; the runner's
	// PriorityCharger bills the workspace in the same transaction.
	Priority bool
}

// PriorityCharger bills a workspace for one job in the priority queue.
type PriorityCharger func(ctx context.Context, tx *db.Tx, workspaceID string) error

// SetPriorityCharger installs the billing of priority jobs. Without one,
// priority routing is refused.
func (r *Runner) SetPriorityCharger(c PriorityCharger) { r.charge = c }

// fairShare is how many queued jobs a workspace may have at full River
// priority; its jobs beyond that wait behind every other workspace's.
func fairShare(p actor.Plan) int64 {
	cores := actor.PlanLimits[p].CPUCores
	if cores < 1 {
		cores = 1
	}
	return 8 * cores
}

const (
	priorityFair  = 1
	priorityFlood = 4
)

type jobMeta struct {
	Workspace string `json:"workspace"`
}

// InsertRouted enqueues a workspace's job in the caller's transaction: in
// the queue of its plan (or the paid priority queue), at full priority while
// the workspace's backlog is within its fair share and at the lowest one
// beyond it. A noisy workspace therefore delays only itself.
func (r *Runner) InsertRouted(ctx context.Context, tx *db.Tx, rt Route, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if rt.WorkspaceID == "" {
		return nil, errors.New("jobs: routed job without a workspace")
	}
	o := river.InsertOpts{}
	if opts != nil {
		o = *opts
	}
	o.Queue = QueueFor(rt.Plan)
	if rt.Priority {
		if r.charge == nil {
			return nil, errors.New("jobs: the priority queue is not available")
		}
		if err := r.charge(ctx, tx, rt.WorkspaceID); err != nil {
			return nil, err
		}
		o.Queue = QueuePriority
	}
	var queued int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO job_backlog (workspace_id, queued) VALUES ($1, 1)
		ON CONFLICT (workspace_id) DO UPDATE SET queued = job_backlog.queued + 1 RETURNING queued`,
		rt.WorkspaceID).Scan(&queued); err != nil {
		return nil, fmt.Errorf("count backlog: %w", err)
	}
	o.Priority = priorityFair
	if queued > fairShare(rt.Plan) {
		o.Priority = priorityFlood
	}
	meta, _ := json.Marshal(jobMeta{Workspace: rt.WorkspaceID})
	o.Metadata = meta
	return r.InsertTx(ctx, tx, args, &o)
}

// backlogMiddleware takes a routed job off its workspace's backlog once it
// is finished for good: done, cancelled, or out of attempts. A snoozed or
// retried job still waits. Decrements are gathered in memory and written in
// one transaction every flush interval, so finishing a job costs no write
// of its own; a node that dies before flushing leaves counts too high until
// the periodic sweep corrects them, which only lowers those workspaces'
// priority for a while.
type backlogMiddleware struct {
	river.MiddlewareDefaults
	d       *db.DB
	mu      sync.Mutex
	pending map[string]int64
}

func (m *backlogMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	err := doInner(ctx)
	var meta jobMeta
	if len(job.Metadata) == 0 || json.Unmarshal(job.Metadata, &meta) != nil || meta.Workspace == "" {
		return err
	}
	var snooze *river.JobSnoozeError
	var cancel *river.JobCancelError
	finished := err == nil || errors.As(err, &cancel) || (!errors.As(err, &snooze) && job.Attempt >= job.MaxAttempts)
	if finished {
		m.mu.Lock()
		m.pending[meta.Workspace]++
		m.mu.Unlock()
	}
	return err
}

// flush writes the gathered decrements.
func (m *backlogMiddleware) flush(ctx context.Context) error {
	m.mu.Lock()
	if len(m.pending) == 0 {
		m.mu.Unlock()
		return nil
	}
	batch := m.pending
	m.pending = map[string]int64{}
	m.mu.Unlock()
	// Rows are updated in one order, the same order inserts take them, so
	// a flush and a batch of inserts cannot deadlock on PostgreSQL.
	keys := make([]string, 0, len(batch))
	for ws := range batch {
		keys = append(keys, ws)
	}
	sort.Strings(keys)
	err := m.d.Tx(ctx, func(tx *db.Tx) error {
		for _, ws := range keys {
			n := batch[ws]
			if _, err := tx.ExecContext(ctx, `UPDATE job_backlog SET queued = CASE WHEN queued > $2 THEN queued - $2 ELSE 0 END
				WHERE workspace_id = $1`, ws, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Put them back for the next flush.
		m.mu.Lock()
		for ws, n := range batch {
			m.pending[ws] += n
		}
		m.mu.Unlock()
		return fmt.Errorf("flush backlog: %w", err)
	}
	return nil
}

// run flushes every interval until ctx ends, then once more.
func (m *backlogMiddleware) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = m.flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			_ = m.flush(ctx)
		}
	}
}

// backlogSweepArgs recounts every workspace's backlog from the job table,
// correcting drift (a node killed between a job's end and its decrement).
type backlogSweepArgs struct{}

func (backlogSweepArgs) Kind() string { return "jobs.backlog_sweep" }

type backlogSweepWorker struct {
	river.WorkerDefaults[backlogSweepArgs]
	d *db.DB
}

func (w *backlogSweepWorker) Work(ctx context.Context, _ *river.Job[backlogSweepArgs]) error {
	return SweepBacklog(ctx, w.d)
}

// SweepBacklog recounts the waiting jobs of every workspace.
func SweepBacklog(ctx context.Context, d *db.DB) error {
	return d.Tx(ctx, func(tx *db.Tx) error {
		const waiting = `SELECT metadata->>'workspace' AS ws, count(*) AS n FROM river_job
			WHERE state IN ('available', 'scheduled', 'retryable', 'running', 'pending')
			AND metadata->>'workspace' IS NOT NULL GROUP BY metadata->>'workspace'`
		if _, err := tx.ExecContext(ctx, `UPDATE job_backlog SET queued = 0
			WHERE workspace_id NOT IN (SELECT ws FROM (`+waiting+`) w)`); err != nil {
			return fmt.Errorf("sweep backlog: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_backlog (workspace_id, queued) SELECT ws, n FROM (`+waiting+`) w WHERE true
			ON CONFLICT (workspace_id) DO UPDATE SET queued = excluded.queued`); err != nil {
			return fmt.Errorf("sweep backlog: %w", err)
		}
		return nil
	})
}
