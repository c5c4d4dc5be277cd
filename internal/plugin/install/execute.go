package install

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
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/market"
)

// Execution statuses. SKIPPED is an event-triggered execution that never
// ran because the plan's daily execution limit was reached; its error says
// so.
const (
	Queued    = "QUEUED"
	Running   = "RUNNING"
	Succeeded = "SUCCEEDED"
	Failed    = "FAILED"
	Skipped   = "SKIPPED"
)

// Execution is one run of an installation.
type Execution struct {
	ID             string           `json:"id"`
	InstallationID string           `json:"installationId"`
	Plugin         string           `json:"plugin"`
	Version        string           `json:"version"`
	Trigger        plugin.Trigger   `json:"trigger"`
	Status         string           `json:"status"`
	Input          json.RawMessage  `json:"input"`
	Output         json.RawMessage  `json:"output,omitempty"`
	Error          string           `json:"error,omitempty"`
	Logs           []plugin.LogLine `json:"logs"`
	Metrics        plugin.Metrics   `json:"metrics"`
	IdempotencyKey string           `json:"idempotencyKey,omitempty"`
	CreatedAt      time.Time        `json:"createdAt"`
	StartedAt      *time.Time       `json:"startedAt,omitempty"`
	FinishedAt     *time.Time       `json:"finishedAt,omitempty"`
	// lease is when a RUNNING execution stops holding its slot (slots.go).
	lease *time.Time
}

// ExecuteInput runs an installation standalone. With Async the execution
// is queued as a job and answered at once (status QUEUED); poll it in the
// history. IdempotencyKey makes a retried request return the first
// execution instead of running again.
type ExecuteInput struct {
	Input          json.RawMessage `json:"input,omitempty"`
	Async          bool            `json:"async,omitempty"`
	IdempotencyKey string          `json:"idempotencyKey,omitempty"`
}

const maxInputBytes = 256 << 10

const execColumns = `id, installation_id, plugin_slug, version, trigger_kind, status, input, output, error, logs,
	duration_ms, tokens_used, api_calls, idempotency_key, created_at, started_at, finished_at`

func scanExecution(r interface{ Scan(...any) error }) (Execution, error) {
	var e Execution
	var input, logs string
	var output, errMsg, key sql.NullString
	var started, finished sql.NullTime
	if err := r.Scan(&e.ID, &e.InstallationID, &e.Plugin, &e.Version, &e.Trigger, &e.Status, &input, &output, &errMsg, &logs,
		&e.Metrics.DurationMs, &e.Metrics.TokensUsed, &e.Metrics.APICalls, &key, &e.CreatedAt, &started, &finished); err != nil {
		return Execution{}, err
	}
	e.Input = json.RawMessage(input)
	if output.Valid {
		e.Output = json.RawMessage(output.String)
	}
	e.Error, e.IdempotencyKey = errMsg.String, key.String
	if err := json.Unmarshal([]byte(logs), &e.Logs); err != nil {
		return Execution{}, fmt.Errorf("decode logs: %w", err)
	}
	if e.Logs == nil {
		e.Logs = []plugin.LogLine{}
	}
	e.CreatedAt = e.CreatedAt.UTC()
	if started.Valid {
		t := started.Time.UTC()
		e.StartedAt = &t
	}
	if finished.Valid {
		t := finished.Time.UTC()
		e.FinishedAt = &t
	}
	return e, nil
}

func getExecution(ctx context.Context, q db.Querier, ws, id string) (Execution, error) {
	if !ids.Valid(ids.PluginExecution, id) {
		return Execution{}, apperr.New(apperr.NotFound, "execution not found")
	}
	e, err := scanExecution(db.Scope(q, ws).QueryRowContext(ctx, `SELECT `+execColumns+` FROM plugin_executions WHERE workspace_id = $1 AND id = $2`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Execution{}, apperr.New(apperr.NotFound, "execution not found")
	}
	return e, err
}

func byKey(ctx context.Context, q db.Querier, ws, installationID, key string) (Execution, bool, error) {
	if key == "" {
		return Execution{}, false, nil
	}
	e, err := scanExecution(db.Scope(q, ws).QueryRowContext(ctx, `SELECT `+execColumns+` FROM plugin_executions
		WHERE workspace_id = $1 AND installation_id = $2 AND idempotency_key = $3`, installationID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Execution{}, false, nil
	}
	if err != nil {
		return Execution{}, false, fmt.Errorf("find execution by key: %w", err)
	}
	return e, true, nil
}

// Execute runs an installation standalone: synchronously (the answer is
// the finished execution) or, with Async, as a plugin.execute job (the
// answer is the QUEUED execution). Either way the execution is recorded.
// created reports whether a new execution was made (false for an
// idempotent replay).
func (s *Service) Execute(ctx context.Context, a actor.Actor, id string, in ExecuteInput) (e Execution, created bool, err error) {
	if err := allow(a, actor.PermWorkflowExecute); err != nil {
		return Execution{}, false, err
	}
	if len(in.Input) > maxInputBytes {
		return Execution{}, false, apperr.Invalid(apperr.FieldError{Field: "input", Message: fmt.Sprintf("must encode to at most %d bytes", maxInputBytes)})
	}
	if len(in.Input) == 0 || string(in.Input) == "null" {
		in.Input = json.RawMessage("{}")
	}
	if len(in.IdempotencyKey) > 200 {
		return Execution{}, false, apperr.Invalid(apperr.FieldError{Field: "idempotencyKey", Message: "must be at most 200 characters"})
	}
	ws := a.WorkspaceID()
	inst, err := get(ctx, s.db.Read(), ws, id)
	if err != nil {
		return Execution{}, false, apperr.Wrap(err, "execute")
	}
	if !inst.Enabled {
		return Execution{}, false, apperr.New(apperr.Conflict, "the installation is disabled; enable it first")
	}
	if prev, ok, err := byKey(ctx, s.db.Read(), ws, id, in.IdempotencyKey); err != nil || ok {
		return prev, false, apperr.Wrap(err, "execute")
	}
	res, err := s.resolved(ctx, inst)
	if err != nil {
		return Execution{}, false, err
	}
	if err := res.Runner.InputSchema().Validate(in.Input); err != nil {
		return Execution{}, false, apperr.Invalid(apperr.FieldError{Field: "input", Message: err.Error()})
	}
	if err := s.checkInputGateways(ctx, a, res.Runner, in.Input); err != nil {
		return Execution{}, false, err
	}
	now := db.Now()
	e = Execution{ID: ids.New(ids.PluginExecution), InstallationID: id, Plugin: inst.Plugin, Version: inst.Version,
		Trigger: plugin.TriggerStandalone, Input: in.Input, IdempotencyKey: in.IdempotencyKey, CreatedAt: now, Logs: []plugin.LogLine{}}
	if in.Async {
		if s.runner == nil {
			return Execution{}, false, apperr.New(apperr.Conflict, "this node cannot queue executions")
		}
		e.Status = Queued
		err := s.db.Tx(ctx, func(tx *db.Tx) error {
			if err := s.countExecution(ctx, tx, a, e.ID); err != nil {
				return err
			}
			if err := insertExecution(ctx, tx, ws, a.UserID, e); err != nil {
				return err
			}
			_, err := s.runner.InsertRouted(ctx, tx, jobs.Route{WorkspaceID: ws, Plan: a.Plan}, ExecuteArgs{ExecutionID: e.ID,
				WorkspaceID: ws, UserID: a.UserID, OrganizationID: a.OrganizationID, Plan: a.Plan}, nil)
			return err
		})
		if err != nil {
			return s.replayOnConflict(ctx, ws, id, in.IdempotencyKey, err)
		}
		return e, true, nil
	}
	// A synchronous execution takes a slot like any other, waiting for one
	// up to the slot wait (RATE_LIMITED after it). It counts when it
	// starts, whatever its outcome, in the transaction that takes the slot.
	e.Status = Running
	plugin.Prepare(ctx, res.Runner)
	err = s.claimWaiting(ctx, ws, a.Plan, e.ID, func(tx *db.Tx) error {
		started := db.Now()
		lease := started.Add(s.execLimit() + leaseMargin)
		e.StartedAt, e.lease = &started, &lease
		if err := s.countExecution(ctx, tx, a, e.ID); err != nil {
			return err
		}
		return insertExecution(ctx, tx, ws, a.UserID, e)
	})
	if err != nil {
		return s.replayOnConflict(ctx, ws, id, in.IdempotencyKey, err)
	}
	started := *e.StartedAt
	rctx, cancel := context.WithDeadline(ctx, e.lease.Add(-leaseMargin))
	defer cancel()
	result, err := s.run(rctx, a, inst, res, e)
	if err != nil {
		// Nothing ran; the caller may try again.
		s.log.Warn("plugin execution: database fault before the plugin ran", "execution", e.ID, "error", err)
		result = plugin.Failed("the execution could not start: the database was briefly unavailable; try again")
	}
	finishFields(&e, result, started)
	e.lease = nil
	if err := s.record(ctx, e.ID, time.Now().Add(recordWithin), func(ctx context.Context, tx *db.Tx) error { return finishExecution(ctx, tx, ws, e) }); err != nil {
		return Execution{}, false, apperr.Wrap(err, "record execution")
	}
	return e, true, nil
}

func (s *Service) replayOnConflict(ctx context.Context, ws, id, key string, err error) (Execution, bool, error) {
	if key != "" && db.IsUniqueViolation(err) {
		if prev, ok, err2 := byKey(ctx, s.db.Read(), ws, id, key); err2 == nil && ok {
			return prev, false, nil
		}
	}
	return Execution{}, false, apperr.Wrap(err, "record execution")
}

func finishFields(e *Execution, r plugin.ExecutionResult, started time.Time) {
	finished := db.Now()
	e.StartedAt, e.FinishedAt = &started, &finished
	e.Metrics = r.Metrics
	e.Logs = r.Logs
	if e.Logs == nil {
		e.Logs = []plugin.LogLine{}
	}
	if r.Success {
		e.Status, e.Output = Succeeded, r.Output
	} else {
		e.Status, e.Error = Failed, r.Error
	}
}

// run executes with the installation's config, grants and store. A
// panicking built-in fails its execution instead of the process. The error
// is a transient database fault before the plugin ran (its secrets could
// not be read): the caller retries or reports it, never as the
// execution's error text.
func (s *Service) run(ctx context.Context, a actor.Actor, inst Installation, res market.Resolved, e Execution) (out plugin.ExecutionResult, err error) {
	key := e.IdempotencyKey
	if key == "" {
		key = e.ID
	}
	secrets, err := s.executionSecrets(ctx, a.WorkspaceID(), inst)
	if db.IsTransient(err) {
		return plugin.ExecutionResult{}, fmt.Errorf("read installation secrets: %w", err)
	}
	if err != nil {
		s.log.Error("open installation secrets", "installation", inst.ID, "execution", e.ID, "error", err)
		return plugin.Failed("the installation's secrets could not be opened; ask the operator"), nil
	}
	ec := plugin.ExecutionContext{Trigger: e.Trigger, ExecutionID: e.ID, InstallationID: inst.ID, IdempotencyKey: key,
		Config: inst.Config, Actor: a, Grants: inst.Grants, GatewayIDs: inst.GatewayIDs, Now: db.Now(),
		Store: &kvStore{db: s.db, workspace: a.WorkspaceID(), installation: inst.ID, plan: a.Plan}, Secrets: secrets}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("plugin panicked", "plugin", inst.Plugin, "execution", e.ID, "panic", p)
			out = plugin.Failed("the plugin crashed")
		}
	}()
	return plugin.Run(ctx, res.Runner, ec, e.Input), nil
}

func insertExecution(ctx context.Context, tx *db.Tx, ws, userID string, e Execution) error {
	logs, err := json.Marshal(e.Logs)
	if err != nil {
		return fmt.Errorf("encode logs: %w", err)
	}
	var output any
	if e.Output != nil {
		output = string(e.Output)
	}
	_, err = db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO plugin_executions (workspace_id, id, installation_id, plugin_slug, version, trigger_kind,
		status, input, output, error, logs, duration_ms, tokens_used, api_calls, idempotency_key, created_by, created_at, started_at, finished_at,
		lease_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
		e.ID, e.InstallationID, e.Plugin, e.Version, string(e.Trigger), e.Status, string(e.Input), output, nullable(e.Error),
		string(logs), e.Metrics.DurationMs, e.Metrics.TokensUsed, e.Metrics.APICalls, nullable(e.IdempotencyKey), nullable(userID),
		e.CreatedAt, e.StartedAt, e.FinishedAt, e.lease)
	if err != nil {
		return fmt.Errorf("insert execution: %w", err)
	}
	return nil
}

// ExecutionPage is a page of executions, newest first.
type ExecutionPage struct {
	Items      []Execution `json:"items"`
	NextCursor *string     `json:"nextCursor"`
}

// Executions lists an installation's executions, newest first.
func (s *Service) Executions(ctx context.Context, a actor.Actor, id, cursor string, limit int) (ExecutionPage, error) {
	if err := allow(a, actor.PermPluginRead); err != nil {
		return ExecutionPage{}, err
	}
	ws := a.WorkspaceID()
	if _, err := get(ctx, s.db.Read(), ws, id); err != nil {
		return ExecutionPage{}, apperr.Wrap(err, "list executions")
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	if cursor != "" && !ids.Valid(ids.PluginExecution, cursor) {
		return ExecutionPage{}, apperr.Invalid(apperr.FieldError{Field: "cursor", Message: "is not a cursor from this listing"})
	}
	q := `SELECT ` + execColumns + ` FROM plugin_executions WHERE workspace_id = $1 AND installation_id = $2`
	args := []any{id}
	if cursor != "" {
		q += ` AND id < $3`
		args = append(args, cursor)
	}
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit+1)
	rows, err := db.Scope(s.db.Read(), ws).QueryContext(ctx, q, args...)
	if err != nil {
		return ExecutionPage{}, apperr.Wrap(err, "list executions")
	}
	defer rows.Close()
	page := ExecutionPage{Items: []Execution{}}
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return ExecutionPage{}, apperr.Wrap(err, "list executions")
		}
		page.Items = append(page.Items, e)
	}
	if err := rows.Err(); err != nil {
		return ExecutionPage{}, apperr.Wrap(err, "list executions")
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		next := page.Items[limit-1].ID
		page.NextCursor = &next
	}
	return page, nil
}

// Execution returns one execution of an installation.
func (s *Service) Execution(ctx context.Context, a actor.Actor, id, execID string) (Execution, error) {
	if err := allow(a, actor.PermPluginRead); err != nil {
		return Execution{}, err
	}
	e, err := getExecution(ctx, s.db.Read(), a.WorkspaceID(), execID)
	if err != nil || e.InstallationID != id {
		if err == nil || strings.Contains(err.Error(), "not found") {
			return Execution{}, apperr.New(apperr.NotFound, "execution not found")
		}
		return Execution{}, apperr.Wrap(err, "get execution")
	}
	return e, nil
}
