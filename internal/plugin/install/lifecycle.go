package install

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/workspace"
)

// WorkspaceChanged is the installations' part of a workspace's pause,
// resume or end, run inside the transaction of the change.
//
// A pause and a resume change nothing stored: event subscriptions and
// queued executions ask whether the workspace is paused. An end removes
// what would act on its own for an owner who is gone: every installation's
// event subscriptions (gatewayIds) are cleared and the scheduler
// installations disabled, and queued executions end SKIPPED with the
// reason. Installations and their settings stay; a restored owner
// subscribes and enables them again.
func (s *Service) WorkspaceChanged(ctx context.Context, tx *db.Tx, ch workspace.Change) (map[string]any, error) {
	if ch.Kind != workspace.End {
		return nil, nil
	}
	sc := db.Scope(tx, ch.WorkspaceID)
	res, err := sc.ExecContext(ctx, `UPDATE plugin_installations SET gateway_ids = '[]', updated_at = $2
		WHERE workspace_id = $1 AND CAST(gateway_ids AS TEXT) <> '[]'`, ch.Now)
	if err != nil {
		return nil, fmt.Errorf("remove event subscriptions: %w", err)
	}
	subs, _ := res.RowsAffected()
	res, err = sc.ExecContext(ctx, `UPDATE plugin_installations SET enabled = $2, updated_at = $3
		WHERE workspace_id = $1 AND plugin_slug = 'scheduler' AND enabled = $4`, false, ch.Now, true)
	if err != nil {
		return nil, fmt.Errorf("disable schedulers: %w", err)
	}
	scheds, _ := res.RowsAffected()
	res, err = sc.ExecContext(ctx, `UPDATE plugin_executions SET status = $2, error = $3, finished_at = $4
		WHERE workspace_id = $1 AND status = $5`, Skipped, "skipped: "+ch.Reason, ch.Now, Queued)
	if err != nil {
		return nil, fmt.Errorf("skip queued executions: %w", err)
	}
	skipped, _ := res.RowsAffected()
	return map[string]any{"subscriptionsRemoved": subs, "schedulersDisabled": scheds, "executionsSkipped": skipped}, nil
}
