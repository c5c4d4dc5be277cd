package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// Error workflows: when a run fails, the workflow named by its version's
// settings.errorWorkflowId — or else the workspace's default — starts, in
// the transaction that records the failure, with the failed run's id, step
// and error as input. Such a run's trigger is "error", and a run with that
// trigger never starts another, so error workflows cannot loop.

// TriggerError is a run's trigger, never a definition's: the run was
// started by the failure of another run.
const TriggerError TriggerType = "error"

// ErrorInput is the input of a run started by a failure.
type ErrorInput struct {
	RunID      string    `json:"runId"`
	WorkflowID string    `json:"workflowId"`
	Version    int       `json:"version"`
	StepID     string    `json:"stepId"`
	Error      string    `json:"error"`
	FailedAt   time.Time `json:"failedAt"`
}

// runFailed starts the error workflow of a run that has just been marked
// failed in tx. c is the run's compiled version, if at hand.
func (s *Service) runFailed(ctx context.Context, tx *db.Tx, r Run, c *compiled, stepID string, at time.Time) error {
	// A run skipped by the daily limit never ran; an error workflow's run
	// never starts another; a failed iteration or branch fails its parent's
	// step, and the parent's failure (if it fails) is the one reported.
	if r.Trigger == TriggerError || strings.HasPrefix(r.Error, "skipped: ") || inherits(r.Kind) {
		return nil
	}
	ws := r.workspaceID
	if c == nil || c.def.Trigger.Type == "" {
		var err error
		if c, err = s.loadCompiled(ctx, tx, ws, r.versionID); err != nil {
			if db.IsTransient(err) {
				return err
			}
			c = nil // unreadable: the workspace default still applies
		}
	}
	id := ""
	if c != nil {
		id = c.def.Settings.ErrorWorkflowID
	}
	if id == "" {
		var err error
		if id, err = defaultErrorWorkflow(ctx, tx, ws); err != nil || id == "" {
			return err
		}
	}
	w, err := s.get(ctx, tx, ws, id)
	if apperr.Is(err, apperr.NotFound) {
		s.Log.Info("error workflow not started: it was deleted", "run", r.ID, "errorWorkflow", id)
		return nil
	}
	if err != nil {
		return err
	}
	if !w.Enabled {
		return nil // disabling a workflow stops its automatic starts
	}
	raw, err := json.Marshal(ErrorInput{RunID: r.ID, WorkflowID: r.WorkflowID, Version: r.Version, StepID: stepID, Error: r.Error, FailedAt: at})
	if err != nil {
		return fmt.Errorf("encode error input: %w", err)
	}
	// One error run per failure: a run retried by hand that fails again
	// fails at a later checkpoint.
	st := start{trigger: TriggerError, input: raw, key: fmt.Sprintf("error:%s:%d", r.ID, r.Checkpoint), skipOverLimit: true}
	// The failure is recorded even if its report cannot start: the
	// savepoint undoes a half-started error run.
	err = tx.Savepoint(ctx, "error_workflow", func() error {
		x, err := s.newRun(ctx, tx, w, ws, st)
		if err != nil {
			return err
		}
		_, err = s.startTx(ctx, tx, x, st, nil)
		return err
	})
	if err != nil && !db.IsTransient(err) && ctx.Err() == nil {
		s.Log.Error("error workflow not started", "run", r.ID, "errorWorkflow", id, "error", err)
		return nil
	}
	return err
}

// runTimedOut is the rest of the timeout sweep's transaction for a run it
// failed: its wait for a reply goes and its error workflow starts.
func (s *Service) runTimedOut(ctx context.Context, tx *db.Tx, ws, id string, at time.Time) error {
	if err := dropWaiters(ctx, tx, ws, id, ""); err != nil {
		return err
	}
	r, err := loadRun(ctx, tx, ws, id)
	if err != nil {
		return err
	}
	return s.runFailed(ctx, tx, r, nil, r.CurrentStepID, at)
}

func defaultErrorWorkflow(ctx context.Context, q db.Querier, ws string) (string, error) {
	var id sql.NullString
	err := db.Scope(q, ws).QueryRowContext(ctx, `SELECT error_workflow_id FROM workflow_settings WHERE workspace_id = $1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read workflow settings: %w", err)
	}
	return id.String, nil
}

// checkErrorWorkflow checks that id, if set, names a workflow of the
// workspace other than self.
func (s *Service) checkErrorWorkflow(ctx context.Context, q db.Querier, ws, id, self, field string) error {
	if id == "" {
		return nil
	}
	if !ids.Valid(ids.Workflow, id) {
		return apperr.Invalid(apperr.FieldError{Field: field, Message: "is not a workflow id"})
	}
	if id == self {
		return apperr.Invalid(apperr.FieldError{Field: field, Message: "cannot name the workflow itself"})
	}
	if _, err := s.get(ctx, q, ws, id); apperr.Is(err, apperr.NotFound) {
		return apperr.Invalid(apperr.FieldError{Field: field, Message: "names no workflow of this workspace"})
	} else if err != nil {
		return err
	}
	return nil
}

// WorkspaceSettings are a workspace's workflow settings.
type WorkspaceSettings struct {
	// ErrorWorkflowID starts when a run of a workflow without its own
	// settings.errorWorkflowId fails; null: none.
	ErrorWorkflowID *string    `json:"errorWorkflowId"`
	UpdatedAt       *time.Time `json:"updatedAt,omitempty"`
}

// SettingsInput replaces a workspace's workflow settings.
type SettingsInput struct {
	// ErrorWorkflowID is a workflow of the workspace; null or "" clears it.
	ErrorWorkflowID *string `json:"errorWorkflowId"`
}

// Settings returns the workspace's workflow settings.
func (s *Service) Settings(ctx context.Context, a actor.Actor) (WorkspaceSettings, error) {
	if err := allow(a, actor.PermWorkflowRead); err != nil {
		return WorkspaceSettings{}, err
	}
	out, err := readSettings(ctx, s.DB.Read(), a.WorkspaceID())
	return out, apperr.Wrap(err, "workflow settings")
}

func readSettings(ctx context.Context, q db.Querier, ws string) (WorkspaceSettings, error) {
	var id sql.NullString
	var at time.Time
	err := db.Scope(q, ws).QueryRowContext(ctx, `SELECT error_workflow_id, updated_at FROM workflow_settings WHERE workspace_id = $1`).Scan(&id, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return WorkspaceSettings{}, nil
	}
	if err != nil {
		return WorkspaceSettings{}, err
	}
	out := WorkspaceSettings{}
	if id.Valid && id.String != "" {
		out.ErrorWorkflowID = &id.String
	}
	at = at.UTC()
	out.UpdatedAt = &at
	return out, nil
}

// UpdateSettings replaces the workspace's workflow settings (audited as
// workflow.settings_changed).
func (s *Service) UpdateSettings(ctx context.Context, a actor.Actor, in SettingsInput) (WorkspaceSettings, error) {
	if err := allow(a, actor.PermWorkflowUpdate); err != nil {
		return WorkspaceSettings{}, err
	}
	ws := a.WorkspaceID()
	id := ""
	if in.ErrorWorkflowID != nil {
		id = *in.ErrorWorkflowID
	}
	err := s.DB.Tx(ctx, func(tx *db.Tx) error {
		if err := s.checkErrorWorkflow(ctx, tx, ws, id, "", "errorWorkflowId"); err != nil {
			return err
		}
		before, err := readSettings(ctx, tx, ws)
		if err != nil {
			return err
		}
		now := s.now()
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO workflow_settings (workspace_id, error_workflow_id, updated_at)
			VALUES ($1, $2, $3) ON CONFLICT (workspace_id) DO UPDATE SET error_workflow_id = excluded.error_workflow_id,
			updated_at = excluded.updated_at`, nullable(id), now); err != nil {
			return fmt.Errorf("save workflow settings: %w", err)
		}
		was := ""
		if before.ErrorWorkflowID != nil {
			was = *before.ErrorWorkflowID
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "workflow.settings_changed", Resource: "workspace", ResourceID: ws,
			Metadata: audit.WithDiff(map[string]any{"errorWorkflowId": id},
				map[string]any{"errorWorkflowId": was}, map[string]any{"errorWorkflowId": id})})
	})
	if err != nil {
		return WorkspaceSettings{}, apperr.Wrap(err, "workflow settings")
	}
	return s.Settings(ctx, a)
}
