package events

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
)

// UsageMetric names event subscriptions in the usage report and in a
// PLAN_LIMIT_EXCEEDED answer.
const UsageMetric = "eventSubscriptions"

// Limit is how many subscriptions plan p allows (FREE's for an unknown
// plan).
func Limit(p actor.Plan) int64 {
	if n, ok := MaxSubscriptions[p]; ok {
		return int64(n)
	}
	return int64(MaxSubscriptions[actor.Free])
}

// Count is a workspace's subscriptions, for the plan limit and the usage
// report. After a downgrade it may exceed Limit: those keep delivering,
// only creating more is refused.
func Count(ctx context.Context, q db.Querier, workspaceID string) (int64, error) {
	var n int64
	if err := db.Scope(q, workspaceID).QueryRowContext(ctx, `SELECT COUNT(*) FROM event_subscriptions WHERE workspace_id = $1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count event subscriptions: %w", err)
	}
	return n, nil
}
