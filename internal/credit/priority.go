package credit

import (
	"context"
	"strings"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// ChargePriorityTx bills a workspace for one job in the priority queue
// ("queue.priority" in the costs table), inside the transaction that
// enqueues it: no credits, no priority job. It is the job router's
// PriorityCharger.
func (s *Service) ChargePriorityTx(ctx context.Context, tx *db.Tx, workspaceID string) error {
	cost, err := EstimateCost("queue.priority", 1)
	if err != nil {
		return err
	}
	a := actor.Actor{System: true, UserID: workspaceID}
	if strings.HasPrefix(workspaceID, ids.Organization+"_") {
		a = actor.Actor{System: true, OrganizationID: workspaceID}
	}
	_, err = s.DeductCreditsTx(ctx, tx, a, Change{Type: Usage, Amount: cost, Description: "priority queue, 1 execution",
		Metadata: map[string]any{"action": "queue.priority"}})
	return err
}
