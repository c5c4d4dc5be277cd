package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/workspace"
)

// ExecuteArgs is the plugin.execute job: run one QUEUED execution.
type ExecuteArgs struct {
	ExecutionID    string     `json:"executionId"`
	WorkspaceID    string     `json:"workspaceId"`
	UserID         string     `json:"userId"`
	OrganizationID string     `json:"organizationId,omitempty"`
	Plan           actor.Plan `json:"plan"`
}

// Kind names the job.
func (ExecuteArgs) Kind() string { return "plugin.execute" }

// snoozeFor is how long a job over its workspace's concurrency limit waits
// before trying again.
const snoozeFor = 250 * time.Millisecond

type executeWorker struct {
	river.WorkerDefaults[ExecuteArgs]
	s *Service
}

// Work runs the execution at least once: a retry after a crash finds the
// row RUNNING (or already finished, and stops). Over the workspace's limit
// of concurrently running executions (its plan's cpuCores) the job is
// snoozed, not failed. A transient database fault is the job's error, so
// River retries it; the execution stays QUEUED or RUNNING meanwhile and its
// error never shows the fault.
func (w *executeWorker) Work(ctx context.Context, job *river.Job[ExecuteArgs]) error {
	return w.s.work(ctx, job.Args)
}

// Timeout leaves room for the sandbox's own limit.
func (w *executeWorker) Timeout(*river.Job[ExecuteArgs]) time.Duration {
	return w.s.market.Engine().Options().Timeout + time.Minute
}

// RegisterJobs adds the plugin.execute worker and the periodic reaper of
// executions whose lease ended to the runner.
func (s *Service) RegisterJobs(r *jobs.Runner) {
	river.AddWorker(r.Workers(), &executeWorker{s: s})
	river.AddWorker(r.Workers(), &reapWorker{s: s})
	r.AddPeriodic(ReapEvery, func() river.JobArgs { return ReapArgs{} })
}

// errPaused: the execution's workspace is paused; it waits, queued.
var errPaused = errors.New("workspace paused")

func (s *Service) work(ctx context.Context, args ExecuteArgs) error {
	a := actor.Actor{System: true, UserID: args.UserID, OrganizationID: args.OrganizationID, Plan: args.Plan}
	ws := args.WorkspaceID
	var e Execution
	var inst Installation
	// The job's own timeout (execLimit) bounds the execution.
	lease := s.leaseFor(ctx)
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := db.LockWorkspace(ctx, tx, ws); err != nil {
			return err
		}
		var err error
		if e, err = getExecution(ctx, tx, ws, args.ExecutionID); err != nil {
			return err
		}
		if e.Status != Queued && e.Status != Running {
			return nil
		}
		if paused, err := workspace.Paused(ctx, tx, ws); err != nil {
			return err
		} else if paused {
			return errPaused
		}
		if err := checkConcurrency(ctx, tx, ws, args.Plan, e.ID); err != nil {
			return err
		}
		if inst, err = get(ctx, tx, ws, e.InstallationID); err != nil {
			return err
		}
		now := db.Now()
		e.StartedAt = &now
		_, err = db.Scope(tx, ws).ExecContext(ctx, `UPDATE plugin_executions SET status = 'RUNNING', started_at = $3, lease_until = $4
			WHERE workspace_id = $1 AND id = $2`, e.ID, now, lease)
		return err
	})
	switch {
	case errors.Is(err, ErrBusy):
		return river.JobSnooze(snoozeFor)
	case errors.Is(err, errPaused):
		return river.JobSnooze(workspace.PausedRecheck) // runs after the reactivation
	case apperr.Is(err, apperr.NotFound):
		// The execution or its installation is gone (uninstalled): nothing
		// to run.
		s.log.Warn("plugin.execute: dropped", "execution", args.ExecutionID, "error", err)
		return nil
	case err != nil:
		return err
	}
	if e.Status != Queued && e.Status != Running || inst.ID == "" {
		return nil
	}
	started := *e.StartedAt
	result := plugin.Failed("the installation is disabled")
	if inst.Enabled {
		res, err := s.resolved(ctx, inst)
		switch {
		case err == nil:
			if result, err = s.run(ctx, a, inst, res, e); err != nil {
				return err
			}
		case db.IsTransient(err) || ctx.Err() != nil:
			// Retried by River; the row keeps its slot until the retry
			// takes it over or the lease ends.
			return fmt.Errorf("resolve installation %s: %w", inst.ID, err)
		default:
			result = plugin.Failed(userMessage(err))
			if !isUserError(err) {
				s.log.Error("plugin.execute: resolve installation", "installation", inst.ID, "execution", e.ID, "error", err)
			}
		}
	}
	finishFields(&e, result, started)
	return s.record(ctx, e.ID, lease, func(ctx context.Context, tx *db.Tx) error {
		return finishExecution(ctx, tx, ws, e)
	})
}

func finishExecution(ctx context.Context, tx *db.Tx, ws string, e Execution) error {
	logs, err := json.Marshal(e.Logs)
	if err != nil {
		return fmt.Errorf("encode logs: %w", err)
	}
	var output any
	if e.Output != nil {
		output = string(e.Output)
	}
	_, err = db.Scope(tx, ws).ExecContext(ctx, `UPDATE plugin_executions SET status = $3, output = $4, error = $5, logs = $6,
		duration_ms = $7, tokens_used = $8, api_calls = $9, finished_at = $10, lease_until = NULL WHERE workspace_id = $1 AND id = $2`,
		e.ID, e.Status, output, nullable(e.Error), string(logs), e.Metrics.DurationMs, e.Metrics.TokensUsed, e.Metrics.APICalls, e.FinishedAt)
	if err != nil {
		return fmt.Errorf("finish execution %s: %w", e.ID, err)
	}
	return nil
}
