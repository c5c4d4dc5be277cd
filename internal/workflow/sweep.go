package workflow

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/workspace"
)

// How often each worker node looks for due schedules and overdue runs.
// Both are claimed with conditional UPDATEs, so nodes sweeping at once
// start a tick's run once and fail an overdue run once.
const (
	ScheduleEvery = time.Second
	TimeoutEvery  = 5 * time.Second
	sweepBatch    = 200
	sweepPhase    = 100 * time.Millisecond
)

// Start runs the schedule and timeout sweeps until Stop (worker nodes
// only).
func (s *Service) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = cancel
	s.done = &sync.WaitGroup{}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		// Sweep just after each whole second: ticks are whole seconds, so
		// a schedule of every second finds its tick due at each sweep
		// instead of racing it.
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(time.Now().Truncate(time.Second).Add(time.Second + sweepPhase))):
		}
		sched := time.NewTicker(ScheduleEvery)
		defer sched.Stop()
		tout := time.NewTicker(TimeoutEvery)
		defer tout.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sched.C:
				if _, err := s.SweepSchedules(ctx); err != nil && ctx.Err() == nil {
					s.Log.Warn("workflow schedule sweep", "error", err)
				}
				if _, err := s.PromoteDue(ctx); err != nil && ctx.Err() == nil {
					s.Log.Warn("workflow wake-ups", "error", err)
				}
			case <-tout.C:
				if _, err := s.SweepTimeouts(ctx); err != nil && ctx.Err() == nil {
					s.Log.Warn("workflow timeout sweep", "error", err)
				}
			}
		}
	}()
}

// Stop ends the sweeps.
func (s *Service) Stop() {
	if s.stop != nil {
		s.stop()
		s.done.Wait()
	}
}

// SweepSchedules starts a run for every schedule whose tick is due and
// returns how many it started. Missed ticks (the nodes were down) are not
// replayed one by one: a schedule that is overdue fires once, late, and
// its next tick is the first one after now.
func (s *Service) SweepSchedules(ctx context.Context) (int, error) {
	now := s.scheduleNow()
	// Schedules of every workspace: the sweep is the system's, and each
	// claim below is scoped to the schedule's workspace.
	rows, err := s.DB.Read().QueryContext(ctx, `SELECT workflow_id, workspace_id, next_fire_at FROM workflow_schedules
		WHERE next_fire_at <= $1 ORDER BY next_fire_at LIMIT `+fmt.Sprint(sweepBatch), now)
	if err != nil {
		return 0, fmt.Errorf("find due schedules: %w", err)
	}
	type due struct {
		id, ws string
		at     time.Time
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.ws, &d.at); err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	started := 0
	for _, d := range list {
		ok, err := s.fire(ctx, d.id, d.ws, d.at)
		if err != nil {
			s.Log.Warn("workflow schedule", "workflow", d.id, "error", err)
			continue
		}
		if ok {
			started++
		}
	}
	return started, nil
}

// fire claims one due tick and starts its run in the same transaction.
func (s *Service) fire(ctx context.Context, id, ws string, tick time.Time) (bool, error) {
	fired := false
	err := s.DB.Tx(ctx, func(tx *db.Tx) error {
		w, err := s.get(ctx, tx, ws, id)
		if apperr.Is(err, apperr.NotFound) {
			_, err = db.Scope(tx, ws).ExecContext(ctx, `DELETE FROM workflow_schedules WHERE workspace_id = $1 AND workflow_id = $2`, id)
			return err
		}
		if err != nil {
			return err
		}
		c, err := s.loadCompiled(ctx, tx, ws, w.versionID)
		if err != nil {
			// A stored version that no longer compiles (rules changed since
			// it was saved) cannot say when it fires: drop the schedule
			// until the workflow is saved again, rather than fail every
			// second.
			s.Log.Error("schedule dropped: its workflow version no longer compiles; save the workflow again",
				"workflow", id, "error", err)
			_, err = db.Scope(tx, ws).ExecContext(ctx, `DELETE FROM workflow_schedules WHERE workspace_id = $1 AND workflow_id = $2`, id)
			return err
		}
		now := s.scheduleNow()
		nextTick := nextFire(c.sched, tick, now, w.plan)
		res, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE workflow_schedules SET next_fire_at = $3, updated_at = $4
			WHERE workspace_id = $1 AND workflow_id = $2 AND next_fire_at = $5`, id, nextTick, now, tick)
		if err != nil {
			return fmt.Errorf("claim tick: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil // another node claimed it
		}
		if !w.Enabled || c.def.Trigger.Type != TriggerSchedule {
			return nil
		}
		// A paused workspace's tick is claimed and skipped: a resume
		// does not bring a burst of the ticks it missed.
		if paused, err := workspace.Paused(ctx, tx, ws); err != nil || paused {
			return err
		}
		input := fmt.Sprintf(`{"scheduledAt":%q,"firedAt":%q}`, tick.UTC().Format(time.RFC3339), now.Format(time.RFC3339Nano))
		st := start{trigger: TriggerSchedule, input: []byte(input), key: "schedule:" + tick.UTC().Format(time.RFC3339), skipOverLimit: true}
		x, err := s.newRun(ctx, tx, w, ws, st)
		if err != nil {
			return err
		}
		fired, err = s.startTx(ctx, tx, x, st, nil)
		return err
	})
	return fired, err
}

// PromoteDue makes the workflow jobs whose time has come (a delay's end, a
// retry's backoff) available to workers now, rather than at River's next
// scheduler pass (every 5 s), and returns how many.
func (s *Service) PromoteDue(ctx context.Context) (int64, error) {
	return jobs.PromoteDue(ctx, s.DB, RunArgs{}.Kind())
}

// SweepTimeouts fails the running runs that are past their timeout and
// returns how many; a paused workspace's runs wait, their clock stopped. A job of such a run finds it ended and does nothing.
func (s *Service) SweepTimeouts(ctx context.Context) (int, error) {
	now := s.now()
	rows, err := s.DB.Read().QueryContext(ctx, `SELECT id, workspace_id FROM workflow_runs
		WHERE status = 'running' AND timeout_at < $1 AND `+workspace.NotPaused("workflow_runs.workspace_id")+`
		ORDER BY timeout_at LIMIT `+fmt.Sprint(sweepBatch), now)
	if err != nil {
		return 0, fmt.Errorf("find overdue runs: %w", err)
	}
	type overdue struct{ id, ws string }
	var list []overdue
	for rows.Next() {
		var o overdue
		if err := rows.Scan(&o.id, &o.ws); err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, o)
	}
	rows.Close()
	n := 0
	for _, o := range list {
		var affected int64
		err := s.DB.Tx(ctx, func(tx *db.Tx) error {
			res, err := db.Scope(tx, o.ws).ExecContext(ctx, `UPDATE workflow_runs SET status = 'failed', error = $3, seq = seq + 1, wake_at = NULL,
				finished_at = $4, updated_at = $4 WHERE workspace_id = $1 AND id = $2 AND status = 'running' AND timeout_at < $4`,
				o.id, "the run exceeded its timeout", now)
			if err != nil {
				return err
			}
			if affected, _ = res.RowsAffected(); affected != 1 {
				return nil
			}
			if err := s.runTimedOut(ctx, tx, o.ws, o.id, now); err != nil {
				return err
			}
			r, err := loadRun(ctx, tx, o.ws, o.id)
			if err != nil {
				return err
			}
			if err := s.emitEnded(ctx, tx, &r); err != nil {
				return err
			}
			return s.runEnded(ctx, tx, r, StatusFailed, "the run exceeded its timeout")
		})
		if err != nil {
			return n, fmt.Errorf("time out run %s: %w", o.id, err)
		}
		if affected == 1 {
			n++
			s.waiters.notify(o.id)
		}
	}
	return n, nil
}

// RetentionArgs is the hourly job that deletes run history older than the
// plan's runRetentionDays (by the plan the run started under).
type RetentionArgs struct{}

// Kind names the job.
func (RetentionArgs) Kind() string { return "workflow.retention" }

type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	s *Service
}

func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	_, err := w.s.CleanupRuns(db.WithoutTimeout(ctx))
	return err
}

// CleanupRuns deletes ended runs past their plan's retention, and test
// runs 24 h after they end, and returns how many.
func (s *Service) CleanupRuns(ctx context.Context) (int64, error) {
	total, err := s.cleanupTests(ctx)
	if err != nil {
		return total, err
	}
	for _, p := range actor.Plans {
		days := actor.PlanLimits[p].RunRetentionDays
		if days == actor.Unlimited || days <= 0 {
			continue
		}
		before := s.now().Add(-time.Duration(days) * 24 * time.Hour)
		for {
			var n int64
			err := s.DB.Tx(ctx, func(tx *db.Tx) error {
				// Every workspace's runs: retention is the system's.
				res, err := tx.ExecContext(ctx, `DELETE FROM workflow_runs WHERE id IN (SELECT id FROM workflow_runs
					WHERE plan = $1 AND status <> 'running' AND finished_at < $2 LIMIT 1000)`, string(p), before)
				if err != nil {
					return err
				}
				n, _ = res.RowsAffected()
				return nil
			})
			if err != nil {
				return total, fmt.Errorf("delete old runs: %w", err)
			}
			total += n
			if n < 1000 {
				break
			}
		}
	}
	return total, nil
}
