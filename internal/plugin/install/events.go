package install

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/workspace"
)

// EventKeyPrefix prefixes the idempotency key of an event-triggered
// execution ("event:<event id>"): one execution per installation and event,
// however often the event is offered.
const EventKeyPrefix = "event:"

// EnqueueEventTx subscribes installations to gateway events. Inside tx —
// the transaction that stores the event — it queues one execution
// (trigger event, the event as input) with its plugin.execute job for every
// enabled installation of a's workspace whose gatewayIds include
// gatewayID. a is the system actor of the gateway's workspace, carrying its
// plan. Installations whose plugin rejects the event's shape get a FAILED
// execution saying why, like any other bad input.
//
// Each execution counts against the plan's executionsPerDay (with paid
// overage where the workspace enabled it). One the plan refuses is recorded
// SKIPPED, with no job, and the event is stored all the same: failing the
// inbound transaction would only make the provider deliver it again.
func (s *Service) EnqueueEventTx(ctx context.Context, tx *db.Tx, a actor.Actor, gatewayID, eventID string, event json.RawMessage) error {
	if s.runner == nil {
		return nil
	}
	ws := a.WorkspaceID()
	if paused, err := workspace.Paused(ctx, tx, ws); err != nil || paused {
		return err // a paused workspace's subscriptions deliver nothing
	}
	rows, err := db.Scope(tx, ws).QueryContext(ctx, `SELECT `+columns+` FROM plugin_installations
		WHERE workspace_id = $1 AND enabled = $2 ORDER BY id`, true)
	if err != nil {
		return fmt.Errorf("find subscribed installations: %w", err)
	}
	var subs []Installation
	for rows.Next() {
		in, err := scan(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("find subscribed installations: %w", err)
		}
		for _, g := range in.GatewayIDs {
			if g == gatewayID {
				subs = append(subs, in)
				break
			}
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find subscribed installations: %w", err)
	}
	if len(subs) > 0 && len(event) > maxInputBytes {
		return fmt.Errorf("event %s is too large to hand to plugins (%d bytes)", eventID, len(event))
	}
	for _, inst := range subs {
		e := Execution{ID: ids.New(ids.PluginExecution), InstallationID: inst.ID, Plugin: inst.Plugin, Version: inst.Version,
			Trigger: plugin.TriggerEvent, Status: Queued, Input: event, IdempotencyKey: EventKeyPrefix + eventID,
			CreatedAt: db.Now(), Logs: []plugin.LogLine{}}
		reason, err := s.countEventExecution(ctx, tx, a, e.ID)
		if err != nil {
			return err
		}
		if reason != "" {
			now := db.Now()
			e.Status, e.Error, e.FinishedAt = Skipped, reason, &now
		}
		if err := insertExecution(ctx, tx, ws, a.UserID, e); err != nil {
			return err
		}
		if e.Status == Skipped {
			continue
		}
		if _, err := s.runner.InsertRouted(ctx, tx, jobs.Route{WorkspaceID: ws, Plan: a.Plan}, ExecuteArgs{ExecutionID: e.ID,
			WorkspaceID: ws, UserID: a.UserID, OrganizationID: a.OrganizationID, Plan: a.Plan}, nil); err != nil {
			return fmt.Errorf("queue event execution: %w", err)
		}
	}
	return nil
}

// countEventExecution counts one event-triggered execution in tx. When the
// plan refuses it, reason says why and nothing the attempt wrote (an
// overage it could not pay for) survives: the attempt runs under a
// savepoint that is rolled back. Other errors fail the transaction.
func (s *Service) countEventExecution(ctx context.Context, tx *db.Tx, a actor.Actor, executionID string) (reason string, err error) {
	if s.meter == nil {
		return "", nil
	}
	err = tx.Savepoint(ctx, "count_event_execution", func() error { return s.countExecution(ctx, tx, a, executionID) })
	if apperr.Is(err, apperr.PlanLimitExceeded) {
		return fmt.Sprintf("skipped: the daily execution limit of the %s plan (%d executions a day) was reached",
			planName(a.Plan), a.Plan.Limit(actor.ActionExecute)), nil
	}
	if err != nil {
		return "", fmt.Errorf("count event execution: %w", err)
	}
	return "", nil
}

func planName(p actor.Plan) string {
	if _, ok := actor.PlanLimits[p]; !ok {
		return string(actor.Free)
	}
	return string(p)
}
