package install

import (
	"context"
	"encoding/json"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/plugin"
)

// ClaimStepSlot takes one of the workspace's concurrency slots (its plan's
// cpuCores, shared with every plugin execution on every node) for a
// workflow step that runs no plugin but costs CPU — a code step, kind
// "code". The slot is a RUNNING row without an installation, held as a
// lease until ctx's deadline (or the execution limit) plus a margin, like
// an inline built-in step's: release deletes it, and a worker that dies
// first leaves it to the lease and the reaper. key (the step attempt's
// idempotency key) lets a step run again after a crash take over its own
// row. ErrBusy when no slot is free.
func (s *Service) ClaimStepSlot(ctx context.Context, a actor.Actor, kind, key string) (release func(), err error) {
	ws := a.WorkspaceID()
	now := db.Now()
	e := Execution{ID: ids.New(ids.PluginExecution), Plugin: kind, Trigger: plugin.TriggerWorkflowStep, Status: Running,
		Input: json.RawMessage("{}"), IdempotencyKey: key, CreatedAt: now, StartedAt: &now, Logs: []plugin.LogLine{}}
	lease := s.leaseFor(ctx)
	e.lease = &lease
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := db.LockWorkspace(ctx, tx, ws); err != nil {
			return err
		}
		prev, again, err := byKey(ctx, tx, ws, "", key)
		if err != nil {
			return err
		}
		if again {
			e.ID = prev.ID
		}
		if err := checkConcurrency(ctx, tx, ws, a.Plan, e.ID); err != nil {
			return err
		}
		if again {
			_, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE plugin_executions SET status = 'RUNNING', started_at = $3, finished_at = NULL,
				lease_until = $4 WHERE workspace_id = $1 AND id = $2`, e.ID, now, lease)
			return err
		}
		return insertExecution(ctx, tx, ws, a.UserID, e)
	})
	if err != nil {
		return nil, err
	}
	return func() {
		if err := s.record(ctx, e.ID, lease, func(ctx context.Context, tx *db.Tx) error {
			_, err := db.Scope(tx, ws).ExecContext(ctx, `DELETE FROM plugin_executions WHERE workspace_id = $1 AND id = $2`, e.ID)
			return err
		}); err != nil {
			s.log.Warn("free a step's concurrency slot", "execution", e.ID, "error", err)
		}
	}, nil
}
