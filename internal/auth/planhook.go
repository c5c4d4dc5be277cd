package auth

import (
	"context"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
)

// PlanHook runs inside the transaction in which an admin changes a personal
// workspace's plan (PATCH /admin/users/{id}); billing's changes go through
// SetPlanTx and are the billing wiring's to report.
type PlanHook func(ctx context.Context, tx *db.Tx, userID string, from, to actor.Plan) error

// OnAdminPlanChange sets the PlanHook. Call while wiring, before serving.
func (s *Service) OnAdminPlanChange(h PlanHook) { s.planHook = h }

func (s *Service) adminPlanChangedTx(ctx context.Context, tx *db.Tx, userID string, from, to actor.Plan) error {
	if s.planHook == nil {
		return nil
	}
	return s.planHook(ctx, tx, userID, from, to)
}
