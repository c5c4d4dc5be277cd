package events

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/workspace"
)

// WorkspaceChanged is the signed events' part of a workspace's pause,
// resume or end, run inside the transaction of the change.
//
// A pause and a resume change nothing stored: the delivery job of a paused
// workspace snoozes, and sends after the reactivation. An end (the
// organization or the owner's account deleted) disables every subscription
// (a later event queues nothing) and fails the deliveries still pending
// with the reason, so their jobs send nothing. A restore brings the
// subscriptions back disabled: the owner enables the ones they want.
func (s *Service) WorkspaceChanged(ctx context.Context, tx *db.Tx, ch workspace.Change) (map[string]any, error) {
	if ch.Kind != workspace.End {
		return nil, nil
	}
	sc := db.Scope(tx, ch.WorkspaceID)
	res, err := sc.ExecContext(ctx, `UPDATE event_subscriptions SET enabled = $2, updated_at = $3
		WHERE workspace_id = $1 AND enabled = $4`, false, ch.Now, true)
	if err != nil {
		return nil, fmt.Errorf("disable event subscriptions: %w", err)
	}
	subs, _ := res.RowsAffected()
	res, err = sc.ExecContext(ctx, `UPDATE event_deliveries SET status = 'failed', last_error = $2, next_attempt_at = NULL,
		updated_at = $3 WHERE workspace_id = $1 AND status = 'pending'`, ch.Reason, ch.Now)
	if err != nil {
		return nil, fmt.Errorf("fail pending event deliveries: %w", err)
	}
	dels, _ := res.RowsAffected()
	if subs == 0 && dels == 0 {
		return nil, nil
	}
	return map[string]any{"subscriptionsDisabled": subs, "deliveriesFailed": dels}, nil
}
