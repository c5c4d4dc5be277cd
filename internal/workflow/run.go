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
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/plugin"
)

// Run statuses (the seed's WorkflowExecutionState). A run is running from
// its start — also while it waits for a delay or a retry — until it
// completes, fails or is cancelled.
const (
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Step record statuses.
const (
	StepSucceeded = "succeeded"
	StepFailed    = "failed"
)

// StepRecord is one execution of one step (each attempt of a retried step
// and each visit of a step in a cycle has its own).
type StepRecord struct {
	Seq        int             `json:"seq"`
	StepID     string          `json:"stepId"`
	Type       StepType        `json:"type"`
	Attempt    int             `json:"attempt"`
	Status     string          `json:"status"`
	Input      json.RawMessage `json:"input,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
	Error      string          `json:"error,omitempty"`
	Branch     string          `json:"branch,omitempty"`
	Metrics    *plugin.Metrics `json:"metrics,omitempty"`
	Logs       []string        `json:"logs,omitempty"` // a code step's console lines, capped (jsrun)
	StartedAt  time.Time       `json:"startedAt"`
	FinishedAt time.Time       `json:"finishedAt"`
	DurationUs int64           `json:"durationUs"`
	// Pinned: a test run took the step's output from the editor's pins
	// instead of running it.
	Pinned bool `json:"pinned,omitempty"`
	// WaitUntil is when the run goes on after this record: a delay's end,
	// or the next attempt of a failed step that is retried.
	WaitUntil *time.Time `json:"waitUntil,omitempty"`
}

// Run is one run of a workflow, pinned to the version it started on.
type Run struct {
	ID            string          `json:"id"`
	WorkflowID    string          `json:"workflowId"`
	Version       int             `json:"version"`
	Status        string          `json:"status"`
	Trigger       TriggerType     `json:"trigger"`
	Input         json.RawMessage `json:"input"`
	Output        json.RawMessage `json:"output,omitempty"`
	Error         string          `json:"error,omitempty"`
	CurrentStepID string          `json:"currentStepId,omitempty"`
	Attempt       int             `json:"attempt"`
	StepsUsed     int             `json:"stepsUsed"`
	Checkpoint    int             `json:"checkpoint"`
	Steps         []StepRecord    `json:"steps"`
	TimeoutAt     time.Time       `json:"timeoutAt"`
	WakeAt        *time.Time      `json:"wakeAt,omitempty"`
	CreatedBy     string          `json:"createdBy,omitempty"`
	CreatedAt     time.Time       `json:"createdAt"`
	UpdatedAt     time.Time       `json:"updatedAt"`
	FinishedAt    *time.Time      `json:"finishedAt,omitempty"`
	// Kind, ParentRunID … link a child run (forEach iteration, parallel
	// branch, sub-workflow run) to the run and step that started it.
	Kind         string `json:"kind"`
	ParentRunID  string `json:"parentRunId,omitempty"`
	ParentStepID string `json:"parentStepId,omitempty"`
	Index        int    `json:"index,omitempty"`
	Depth        int    `json:"depth,omitempty"`
	// Children summarizes the runs this one started (GET of one run only).
	Children *ChildSummary `json:"children,omitempty"`
	// Test marks a run of an unsaved definition started from the editor
	// (POST /workflows/{id}/test): kept 24 h.
	Test bool `json:"test"`
	// ChargedMillicredits is what starting the run cost in credits: the
	// overage of a plan's daily executions where the workspace pays for
	// it (0 within the plan). Steps are not charged by the engine.
	ChargedMillicredits int64 `json:"chargedMillicredits"`
	// TraceID is the OpenTelemetry trace the run started in (with tracing
	// on, or a caller's traceparent): its request, steps, jobs and calls.
	TraceID string `json:"traceId,omitempty"`

	parentSeq                                  int
	workspaceID, versionID, userID, orgID, key string
	plan                                       actor.Plan
	stepsRaw                                   string
	// unsubscribed: see Workflow.unsubscribed.
	unsubscribed bool
	// guard, when set, is what the run's INSERT checks again: the run
	// was started from a cached webhook (hookcache.go).
	guard *runGuard
}

// Terminal reports whether the run has ended.
func (r Run) Terminal() bool { return r.Status != StatusRunning }

// actor is the system actor that acts for the run's workspace.
func (r Run) actor() actor.Actor {
	a := actor.Actor{System: true, UserID: r.userID, OrganizationID: r.orgID, Plan: r.plan}
	if r.orgID != "" {
		a.UserID = ""
	}
	return a
}

const runColumns = `id, workspace_id, workflow_id, version, version_id, user_id, organization_id, plan, status, trigger_kind,
	input, output, error, current_step_id, attempt, seq, steps_used, steps, idempotency_key, timeout_at, wake_at,
	created_by, created_at, updated_at, finished_at, kind, parent_run_id, parent_step_id, parent_seq, child_index, depth, test, charged_millicredits, trace_id`

// summaryColumns skip the step records (listings show runs, not steps).
const summaryColumns = `id, workspace_id, workflow_id, version, version_id, user_id, organization_id, plan, status, trigger_kind,
	input, output, error, current_step_id, attempt, seq, steps_used, '[]', idempotency_key, timeout_at, wake_at,
	created_by, created_at, updated_at, finished_at, kind, parent_run_id, parent_step_id, parent_seq, child_index, depth, test, charged_millicredits, trace_id`

func scanRun(r interface{ Scan(...any) error }) (Run, error) {
	var run Run
	var org, output, errMsg, cur, key, by, parent, parentStep, traceID sql.NullString
	var input string
	var wake, finished sql.NullTime
	if err := r.Scan(&run.ID, &run.workspaceID, &run.WorkflowID, &run.Version, &run.versionID, &run.userID, &org, &run.plan,
		&run.Status, &run.Trigger, &input, &output, &errMsg, &cur, &run.Attempt, &run.Checkpoint, &run.StepsUsed, &run.stepsRaw,
		&key, &run.TimeoutAt, &wake, &by, &run.CreatedAt, &run.UpdatedAt, &finished,
		&run.Kind, &parent, &parentStep, &run.parentSeq, &run.Index, &run.Depth, &run.Test, &run.ChargedMillicredits, &traceID); err != nil {
		return Run{}, err
	}
	run.ParentRunID, run.ParentStepID, run.TraceID = parent.String, parentStep.String, traceID.String
	run.orgID, run.Error, run.CurrentStepID, run.key, run.CreatedBy = org.String, errMsg.String, cur.String, key.String, by.String
	run.Input = json.RawMessage(input)
	if output.Valid {
		run.Output = json.RawMessage(output.String)
	}
	run.TimeoutAt, run.CreatedAt, run.UpdatedAt = run.TimeoutAt.UTC(), run.CreatedAt.UTC(), run.UpdatedAt.UTC()
	if wake.Valid && run.Status == StatusRunning {
		t := wake.Time.UTC()
		run.WakeAt = &t
	}
	if finished.Valid {
		t := finished.Time.UTC()
		run.FinishedAt = &t
	}
	if err := json.Unmarshal([]byte(run.stepsRaw), &run.Steps); err != nil {
		return Run{}, fmt.Errorf("run %s steps: %w", run.ID, err)
	}
	if run.Steps == nil {
		run.Steps = []StepRecord{}
	}
	return run, nil
}

func loadRun(ctx context.Context, q db.Querier, ws, id string) (Run, error) {
	if !ids.Valid(ids.WorkflowRun, id) {
		return Run{}, errRunNotFound
	}
	r, err := scanRun(db.Scope(q, ws).QueryRowContext(ctx, `SELECT `+runColumns+` FROM workflow_runs WHERE workspace_id = $1 AND id = $2`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, errRunNotFound
	}
	return r, err
}

var errRunNotFound = apperr.New(apperr.NotFound, "run not found")

// GetRun returns a run with every step's input, output, error, attempt and
// timings.
func (s *Service) GetRun(ctx context.Context, a actor.Actor, id string) (Run, error) {
	if err := allow(a, actor.PermWorkflowRead); err != nil {
		return Run{}, err
	}
	r, err := loadRun(ctx, s.DB.Read(), a.WorkspaceID(), id)
	if err == nil {
		r.Children, err = s.childSummary(ctx, a.WorkspaceID(), r.ID)
	}
	return r, apperr.Wrap(err, "get run")
}

// RunFilter narrows a run listing.
type RunFilter struct {
	WorkflowID string
	Status     string
	Cursor     string
	Limit      int
	// ParentRunID lists the children of one run (forEach iterations and
	// parallel branches are listed only so).
	ParentRunID string
	// Trigger, Version, Since, Until and Test: see runFilters.
	Trigger      string
	Version      int
	Since, Until time.Time
	Test         *bool
}

// RunPage is a page of runs, newest first (without their step records).
type RunPage struct {
	Items      []Run   `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

// Runs lists the workspace's runs, newest first.
func (s *Service) Runs(ctx context.Context, a actor.Actor, f RunFilter) (RunPage, error) {
	if err := allow(a, actor.PermWorkflowRead); err != nil {
		return RunPage{}, err
	}
	limit := pageLimit(f.Limit)
	q := `SELECT ` + summaryColumns + ` FROM workflow_runs WHERE workspace_id = $1`
	args, err := childFilter(&q, f.ParentRunID)
	if err != nil {
		return RunPage{}, err
	}
	if f.WorkflowID != "" {
		if !ids.Valid(ids.Workflow, f.WorkflowID) {
			return RunPage{}, apperr.Invalid(apperr.FieldError{Field: "workflowId", Message: "is not a workflow id"})
		}
		args = append(args, f.WorkflowID)
		q += fmt.Sprintf(` AND workflow_id = $%d`, len(args)+1)
	}
	if f.Status != "" {
		switch f.Status {
		case StatusRunning, StatusCompleted, StatusFailed, StatusCancelled:
		default:
			return RunPage{}, apperr.Invalid(apperr.FieldError{Field: "status", Message: "must be running, completed, failed or cancelled"})
		}
		args = append(args, f.Status)
		q += fmt.Sprintf(` AND status = $%d`, len(args)+1)
	}
	if q, args, err = f.more(q, args); err != nil {
		return RunPage{}, err
	}
	if f.Cursor != "" {
		if !ids.Valid(ids.WorkflowRun, f.Cursor) {
			return RunPage{}, apperr.Invalid(apperr.FieldError{Field: "cursor", Message: "is not a cursor from this listing"})
		}
		args = append(args, f.Cursor)
		q += fmt.Sprintf(` AND id < $%d`, len(args)+1)
	}
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit+1)
	items, next, err := db.CollectPage(ctx, s.DB.Read(), a.WorkspaceID(), q, args, limit, func(rows *sql.Rows) (Run, string, error) {
		r, err := scanRun(rows)
		return r, r.ID, err
	})
	if err != nil {
		return RunPage{}, apperr.Wrap(err, "list runs")
	}
	return RunPage{Items: items, NextCursor: cursorOrNil(next)}, nil
}

// Cancel stops a running run. A step in flight finishes but its result is
// discarded; no later step runs.
func (s *Service) Cancel(ctx context.Context, a actor.Actor, id string) (Run, error) {
	if err := allow(a, actor.PermWorkflowExecute); err != nil {
		return Run{}, err
	}
	ws := a.WorkspaceID()
	err := s.DB.Tx(ctx, func(tx *db.Tx) error {
		r, err := loadRun(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		if r.Terminal() {
			return apperr.New(apperr.Conflict, "the run is %s already", r.Status)
		}
		now := s.now()
		res, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE workflow_runs SET status = $3, error = $4, seq = seq + 1, wake_at = NULL,
			finished_at = $5, updated_at = $5 WHERE workspace_id = $1 AND id = $2 AND status = 'running'`,
			id, StatusCancelled, "cancelled by hand", now)
		if err != nil {
			return fmt.Errorf("cancel run: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.New(apperr.Conflict, "the run ended while cancelling")
		}
		if m := s.Metrics; m != nil {
			tx.AfterCommit(func() { m.RunFinished(string(r.Trigger), StatusCancelled) })
		}
		if err := dropWaiters(ctx, tx, ws, id, ""); err != nil {
			return err
		}
		if err := s.runEnded(ctx, tx, r, StatusCancelled, "cancelled by hand"); err != nil {
			return err
		}
		return auditRun(ctx, tx, a, "workflow.run_cancelled", r)
	})
	if err != nil {
		return Run{}, apperr.Wrap(err, "cancel run")
	}
	s.waiters.notify(id)
	return loadRun(ctx, s.DB.Read(), ws, id)
}

// Retry starts a failed run again from the step that failed, on the same
// version, with a fresh timeout. Finished steps are not run again.
func (s *Service) Retry(ctx context.Context, a actor.Actor, id string) (Run, error) {
	if err := allow(a, actor.PermWorkflowExecute); err != nil {
		return Run{}, err
	}
	if s.Jobs == nil {
		return Run{}, apperr.New(apperr.Conflict, "this node cannot queue runs")
	}
	ws := a.WorkspaceID()
	err := s.DB.Tx(ctx, func(tx *db.Tx) error {
		r, err := loadRun(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		if r.Status != StatusFailed {
			return apperr.New(apperr.Conflict, "only a failed run can be retried; this one is %s", r.Status)
		}
		if inherits(r.Kind) {
			return apperr.New(apperr.Conflict, "this run is a %s of run %s; retry that run", r.Kind, r.ParentRunID)
		}
		if r.CurrentStepID == "" {
			return apperr.New(apperr.Conflict, "the run failed after its last step; start a new run")
		}
		// A deleted workflow starts no more runs, nor brings old ones back.
		if _, err := s.get(ctx, tx, ws, r.WorkflowID); apperr.Is(err, apperr.NotFound) {
			return apperr.New(apperr.Conflict, "the workflow was deleted; its runs cannot be retried")
		} else if err != nil {
			return err
		}
		// A run skipped by the daily execution limit never ran and was
		// never counted: running it now costs its execution.
		if s.Meter != nil && len(r.Steps) == 0 && strings.HasPrefix(r.Error, "skipped: ") {
			ra := r.actor()
			ra.Plan = a.Plan
			c, err := s.Meter.ConsumeTx(ctx, tx, ra, actor.ActionExecute, 1, "workflow_run:"+r.ID)
			if err != nil {
				return err
			}
			if err := noteCharge(ctx, tx, r.workspaceID, r.ID, c.Charged); err != nil {
				return err
			}
		}
		c, err := s.loadCompiled(ctx, tx, ws, r.versionID)
		if err != nil {
			return err
		}
		now := s.now()
		seq := r.Checkpoint + 1
		res, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE workflow_runs SET status = 'running', error = NULL, output = NULL, seq = $3,
			attempt = 1, steps_used = 0, timeout_at = $4, wake_at = NULL, finished_at = NULL, updated_at = $5
			WHERE workspace_id = $1 AND id = $2 AND status = 'failed' AND seq = $6`,
			id, seq, now.Add(c.def.Settings.timeout()), now, r.Checkpoint)
		if err != nil {
			return fmt.Errorf("retry run: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.New(apperr.Conflict, "the run changed while retrying; try again")
		}
		r.Checkpoint = seq
		if err := s.enqueue(ctx, tx, r, time.Time{}); err != nil {
			return err
		}
		return auditRun(ctx, tx, a, "workflow.run_retried", r)
	})
	if err != nil {
		return Run{}, apperr.Wrap(err, "retry run")
	}
	return loadRun(ctx, s.DB.Read(), ws, id)
}

func auditRun(ctx context.Context, tx *db.Tx, a actor.Actor, action string, r Run) error {
	return auditRecord(ctx, tx, a, action, r.ID, map[string]any{"workflowId": r.WorkflowID, "version": r.Version, "step": r.CurrentStepID})
}

// loadCompiled returns the compiled definition of a version.
func (s *Service) loadCompiled(ctx context.Context, q db.Querier, ws, versionID string) (*compiled, error) {
	if c := s.compiled.get(versionID); c != nil {
		return c, nil
	}
	var raw string
	if err := db.Scope(q, ws).QueryRowContext(ctx, `SELECT definition FROM workflow_versions WHERE workspace_id = $1 AND id = $2`,
		versionID).Scan(&raw); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return s.loadTestCompiled(ctx, q, ws, versionID)
		}
		return nil, fmt.Errorf("load version %s: %w", versionID, err)
	}
	var def Definition
	if err := json.Unmarshal([]byte(raw), &def); err != nil {
		return nil, fmt.Errorf("decode version %s: %w", versionID, err)
	}
	return s.compileFor(ctx, versionID, def)
}

// appendRecords adds records to a run's JSON array of step records without
// decoding it again.
func appendRecords(raw string, recs []StepRecord) (string, error) {
	if len(recs) == 0 {
		return raw, nil
	}
	raw = strings.TrimSpace(raw)
	b := make([]byte, 0, len(raw)+512*len(recs))
	if raw == "" || raw == "[]" || raw == "null" {
		b = append(b, '[')
	} else {
		b = append(append(b, strings.TrimSuffix(raw, "]")...), ',')
	}
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendRecord(b, r); err != nil {
			return "", fmt.Errorf("encode step record: %w", err)
		}
	}
	return string(append(b, ']')), nil
}
