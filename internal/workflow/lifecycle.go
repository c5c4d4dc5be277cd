package workflow

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/workspace"
)

// snoozeIfPaused answers a run job of a paused workspace with a snooze.
func (s *Service) snoozeIfPaused(ctx context.Context, ws string) error {
	paused, err := workspace.Paused(ctx, s.DB.Read(), ws)
	if err != nil {
		return err
	}
	if paused {
		return river.JobSnooze(workspace.PausedRecheck)
	}
	return nil
}

// WorkspaceChanged is the workflow engine's part of a workspace's pause,
// resume or end, run inside the transaction of the change.
//
// A pause needs nothing here: the webhook, the schedule sweep, event
// triggers and run jobs each ask whether the workspace is paused. A resume
// pushes the timeouts of the runs under way back by the time spent paused,
// so a pause does not eat their budget. An end disables every workflow and
// gives its webhook a new secret token (the old URL answers 404 for good,
// a restored owner enables the workflow again and gets a new URL), removes
// the schedules, and cancels the runs under way with the reason.
func (s *Service) WorkspaceChanged(ctx context.Context, tx *db.Tx, ch workspace.Change) (map[string]any, error) {
	switch ch.Kind {
	case workspace.Resume:
		n, err := s.extendTimeouts(ctx, tx, ch.WorkspaceID, ch.Now.Sub(ch.PausedAt))
		if err != nil || n == 0 {
			return nil, err
		}
		return map[string]any{"runsResumed": n}, nil
	case workspace.End:
		return s.endWorkspace(ctx, tx, ch)
	}
	return nil, nil
}

func (s *Service) extendTimeouts(ctx context.Context, tx *db.Tx, ws string, d time.Duration) (int, error) {
	sc := db.Scope(tx, ws)
	rows, err := sc.QueryContext(ctx, `SELECT id, timeout_at FROM workflow_runs WHERE workspace_id = $1 AND status = 'running'`)
	if err != nil {
		return 0, fmt.Errorf("find running runs: %w", err)
	}
	type due struct {
		id string
		at time.Time
	}
	var list []due
	for rows.Next() {
		var r due
		if err := rows.Scan(&r.id, &r.at); err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, r)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if d <= 0 {
		return len(list), nil
	}
	for _, r := range list {
		if _, err := sc.ExecContext(ctx, `UPDATE workflow_runs SET timeout_at = $3 WHERE workspace_id = $1 AND id = $2 AND status = 'running'`,
			r.id, r.at.UTC().Add(d)); err != nil {
			return 0, fmt.Errorf("extend timeout of run %s: %w", r.id, err)
		}
	}
	return len(list), nil
}

func (s *Service) endWorkspace(ctx context.Context, tx *db.Tx, ch workspace.Change) (map[string]any, error) {
	ws := ch.WorkspaceID
	sc := db.Scope(tx, ws)
	rows, err := sc.QueryContext(ctx, `SELECT id FROM workflows WHERE workspace_id = $1 AND deleted_at IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("find workflows: %w", err)
	}
	var wfs []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		wfs = append(wfs, id)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	for _, id := range wfs {
		enc, keyID, err := s.sealHook(id, newToken())
		if err != nil {
			return nil, err
		}
		if _, err := sc.ExecContext(ctx, `UPDATE workflows SET enabled = $3, hook_token = '', hook_token_enc = $4,
			hook_token_key_id = $5, updated_at = $6 WHERE workspace_id = $1 AND id = $2`, id, false, enc, keyID, ch.Now); err != nil {
			return nil, fmt.Errorf("disable workflow %s: %w", id, err)
		}
	}
	res, err := sc.ExecContext(ctx, `DELETE FROM workflow_schedules WHERE workspace_id = $1`)
	if err != nil {
		return nil, fmt.Errorf("remove schedules: %w", err)
	}
	schedules, _ := res.RowsAffected()
	rows, err = sc.QueryContext(ctx, `UPDATE workflow_runs SET status = $2, error = $3, seq = seq + 1, wake_at = NULL,
		finished_at = $4, updated_at = $4 WHERE workspace_id = $1 AND status = 'running' RETURNING id`,
		StatusCancelled, ch.Reason, ch.Now)
	if err != nil {
		return nil, fmt.Errorf("cancel runs: %w", err)
	}
	var cancelled []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		cancelled = append(cancelled, id)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := dropWaiters(ctx, tx, ws, "", ""); err != nil {
		return nil, err
	}
	// A sync webhook caller waiting on one of them gets its answer now.
	tx.AfterCommit(func() {
		for _, id := range cancelled {
			s.waiters.notify(id)
		}
	})
	return map[string]any{"workflowsDisabled": len(wfs), "schedulesRemoved": schedules, "runsCancelled": len(cancelled)}, nil
}
