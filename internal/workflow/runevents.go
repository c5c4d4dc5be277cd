package workflow

import (
	"context"
	"time"

	"github.com/switchboard/switchboard/internal/db"
)

// Events receives a workspace's events inside the transaction of the change
// they describe (the events service: signed deliveries to subscribed URLs).
type Events interface {
	EmitTx(ctx context.Context, tx *db.Tx, workspaceID, eventType string, data any) error
	// SubscribedSQL is a SQL condition on the workspace id col (a column
	// or parameter of the enclosing query) that is false only when the
	// workspace has no enabled subscription, so EmitTx would send nothing.
	SubscribedSQL(col string) string
}

// RunEvent is the data of the run.completed and run.failed events.
type RunEvent struct {
	RunID      string      `json:"runId"`
	WorkflowID string      `json:"workflowId"`
	Version    int         `json:"version"`
	Status     string      `json:"status"`
	Trigger    TriggerType `json:"trigger"`
	// Error and StepID (the step that failed, if one did) are set on
	// run.failed.
	Error      string     `json:"error,omitempty"`
	StepID     string     `json:"stepId,omitempty"`
	StartedAt  time.Time  `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// emitEnded emits run.completed or run.failed for a run whose final status
// commits in tx; a cancelled run emits nothing.
func (s *Service) emitEnded(ctx context.Context, tx *db.Tx, r *Run) error {
	// An iteration or branch is part of its parent run, whose end is the
	// event.
	if s.Events == nil || inherits(r.Kind) || r.unsubscribed {
		return nil
	}
	var typ string
	switch r.Status {
	case StatusCompleted:
		typ = "run.completed"
	case StatusFailed:
		typ = "run.failed"
	default:
		return nil
	}
	ev := RunEvent{RunID: r.ID, WorkflowID: r.WorkflowID, Version: r.Version, Status: r.Status, Trigger: r.Trigger,
		Error: r.Error, StartedAt: r.CreatedAt.UTC(), FinishedAt: r.FinishedAt}
	if r.Status == StatusFailed {
		ev.StepID = r.CurrentStepID
	}
	return s.Events.EmitTx(ctx, tx, r.workspaceID, typ, ev)
}
