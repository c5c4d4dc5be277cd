package gateway

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
)

// ClaimHook is offered each new inbound event inside the transaction that
// stores it, before anything else sees it. A hook that claims the event
// (a workflow run waiting for that chat's reply) has consumed it: the
// event is stored as PROCESSED, and neither its processing job, nor the
// StoreHooks (event-triggered workflows, plugin installations) nor the
// consumers get it. An error rolls the delivery back.
type ClaimHook func(ctx context.Context, tx *db.Tx, a actor.Actor, ev WorkspaceJob) (bool, error)

// OnClaim adds a ClaimHook. Call while wiring, before serving.
func (s *Service) OnClaim(h ClaimHook) { s.claims = append(s.claims, h) }

// claim offers a just-stored event to the claim hooks and marks it
// processed when one takes it.
func (s *Service) claim(ctx context.Context, tx *db.Tx, r *row, ev WorkspaceJob) (bool, error) {
	for _, h := range s.claims {
		claimed, err := h(ctx, tx, systemActor(r), ev)
		if err != nil {
			return false, fmt.Errorf("event claim: %w", err)
		}
		if !claimed {
			continue
		}
		if _, err := db.Scope(tx, r.workspaceID).ExecContext(ctx, `UPDATE gateway_events SET status = 'PROCESSED', processed_at = $3
			WHERE workspace_id = $1 AND id = $2`, ev.ID, db.Now()); err != nil {
			return false, fmt.Errorf("mark event %s claimed: %w", ev.ID, err)
		}
		return true, nil
	}
	return false, nil
}
