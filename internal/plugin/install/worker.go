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
// before trying again; staleAfter is when a RUNNING execution whose node
// died stops holding a slot.
const (
	snoozeFor  = 250 * time.Millisecond
	staleAfter = 10 * time.Minute
)

type executeWorker struct {
	river.WorkerDefaults[ExecuteArgs]
	s *Service
}

// Work runs the execution at least once: a retry after a crash finds the
// row RUNNING (or already finished, and stops). Over the workspace's limit
// of concurrently running executions (its plan's cpuCores) the job is
// snoozed, not failed.
func (w *executeWorker) Work(ctx context.Context, job *river.Job[ExecuteArgs]) error {
	return w.s.work(ctx, job.Args)
}

// Timeout leaves room for the sandbox's own limit.
func (w *executeWorker) Timeout(*river.Job[ExecuteArgs]) time.Duration {
	return w.s.market.Engine().Options().Timeout + time.Minute
}

// RegisterJobs adds the plugin.execute worker to the runner.
func (s *Service) RegisterJobs(r *jobs.Runner) {
	river.AddWorker(r.Workers(), &executeWorker{s: s})
}

// ErrBusy is the answer for an execution that would take its workspace
// over its plan's concurrent executions (cpuCores): try again shortly.
var ErrBusy = errors.New("workspace at its concurrency limit")

var errBusy = ErrBusy

// errPaused: the execution's workspace is paused; it waits, queued.
var errPaused = errors.New("workspace paused")

// checkConcurrency fails with ErrBusy when the workspace already runs as
// many executions as its plan's cpuCores allow (besides self). The caller
// holds the workspace lock, so two nodes cannot both take the last slot.
func checkConcurrency(ctx context.Context, tx *db.Tx, ws string, plan actor.Plan, self string) error {
	var running int64
	if err := db.Scope(tx, ws).QueryRowContext(ctx, `SELECT COUNT(*) FROM plugin_executions
		WHERE workspace_id = $1 AND status = 'RUNNING' AND started_at > $2 AND id <> $3`,
		db.Now().Add(-staleAfter), self).Scan(&running); err != nil {
		return fmt.Errorf("count running executions: %w", err)
	}
	limit := actor.PlanLimits[plan].CPUCores
	if limit <= 0 {
		limit = 1
	}
	if running >= limit {
		return ErrBusy
	}
	return nil
}

func (s *Service) work(ctx context.Context, args ExecuteArgs) error {
	a := actor.Actor{System: true, UserID: args.UserID, OrganizationID: args.OrganizationID, Plan: args.Plan}
	ws := args.WorkspaceID
	var e Execution
	var inst Installation
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
		_, err = db.Scope(tx, ws).ExecContext(ctx, `UPDATE plugin_executions SET status = 'RUNNING', started_at = $3
			WHERE workspace_id = $1 AND id = $2`, e.ID, now)
		return err
	})
	switch {
	case errors.Is(err, errBusy):
		return river.JobSnooze(snoozeFor)
	case errors.Is(err, errPaused):
		return river.JobSnooze(pausedSnooze) // runs after the reactivation
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
		if err != nil {
			result = plugin.Failed(err.Error())
		} else {
			result = s.run(ctx, a, inst, res, e)
		}
	}
	finishFields(&e, result, started)
	return s.db.Tx(ctx, func(tx *db.Tx) error {
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
		duration_ms = $7, tokens_used = $8, api_calls = $9, finished_at = $10 WHERE workspace_id = $1 AND id = $2`,
		e.ID, e.Status, output, nullable(e.Error), string(logs), e.Metrics.DurationMs, e.Metrics.TokensUsed, e.Metrics.APICalls, e.FinishedAt)
	if err != nil {
		return fmt.Errorf("finish execution %s: %w", e.ID, err)
	}
	return nil
}
