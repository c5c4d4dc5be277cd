package install

import (
	"context"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
)

// Meter counts executions against the plan's executionsPerDay (with
// overage from credits where the workspace allows it).
type Meter interface {
	ConsumeTx(ctx context.Context, tx *db.Tx, a actor.Actor, action actor.Action, amount int64, key string) (credit.Consumption, error)
}

// SetMeter makes standalone and event-triggered executions count against
// the plan. Call before serving.
func (s *Service) SetMeter(m Meter) { s.meter = m }

// countExecution records one execution in tx; over the limit it fails with
// PLAN_LIMIT_EXCEEDED and the caller rolls back.
func (s *Service) countExecution(ctx context.Context, tx *db.Tx, a actor.Actor, executionID string) error {
	if s.meter == nil {
		return nil
	}
	_, err := s.meter.ConsumeTx(ctx, tx, a, actor.ActionExecute, 1, "execution:"+executionID)
	return err
}
