package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/plugin"
)

// StepRef names what a workflow's plugin step runs: an installation of
// the workspace, or a built-in plugin by slug with an inline config.
type StepRef struct {
	InstallationID string
	Plugin         string
	Config         json.RawMessage
}

// CheckStep validates a workflow step's reference when the workflow is
// saved: the installation exists in a's workspace (or the built-in
// exists), its plugin can be a workflow step, and a static config matches
// the plugin's config schema.
func (s *Service) CheckStep(ctx context.Context, a actor.Actor, ref StepRef) error {
	r, _, err := s.stepRunner(ctx, a, ref)
	if err != nil {
		return err
	}
	if !r.CanBeWorkflowStep() {
		return apperr.New(apperr.Validation, "plugin %s cannot be a workflow step", r.Slug())
	}
	if ref.InstallationID == "" && len(ref.Config) > 0 {
		if err := plugin.CheckConfig(r, ref.Config); err != nil {
			return apperr.New(apperr.Validation, "config: %v", err)
		}
		if err := s.checkConfigGateways(ctx, a, r, ref.Config); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) stepRunner(ctx context.Context, a actor.Actor, ref StepRef) (plugin.Runner, *Installation, error) {
	if ref.InstallationID != "" {
		if !ids.Valid(ids.Installation, ref.InstallationID) {
			return nil, nil, errNotFound
		}
		inst, err := get(ctx, s.db.Read(), a.WorkspaceID(), ref.InstallationID)
		if err != nil {
			return nil, nil, err
		}
		res, err := s.resolved(ctx, inst)
		if err != nil {
			return nil, nil, err
		}
		return res.Runner, &inst, nil
	}
	b, ok := s.market.Registry().Builtin(ref.Plugin)
	if !ok {
		return nil, nil, apperr.New(apperr.NotFound, "no built-in plugin %q", ref.Plugin)
	}
	return b, nil, nil
}

// RunStep runs one workflow plugin step and reports the plugin's result.
// An installation must be enabled; its own config and grants apply. A
// built-in runs with the step's config. The error is for failures around
// the plugin: ErrBusy when the workspace has no free concurrency slot, an
// *apperr.Error whose message is for the workflow's user (not found,
// disabled, bad config), or any other error for a fault of ours — a
// transient database fault among them (db.IsTransient) — whose text is for
// logs only. The plugin's own failure is in the result.
func (s *Service) RunStep(ctx context.Context, a actor.Actor, ref StepRef, input json.RawMessage, ec plugin.ExecutionContext) (out plugin.ExecutionResult, err error) {
	r, inst, err := s.stepRunner(ctx, a, ref)
	if err != nil {
		return plugin.ExecutionResult{}, stepError(err)
	}
	if !r.CanBeWorkflowStep() {
		return plugin.ExecutionResult{}, apperr.New(apperr.Validation, "plugin %s cannot be a workflow step", r.Slug())
	}
	ec.Trigger, ec.Actor, ec.Now = plugin.TriggerWorkflowStep, a, db.Now()
	if inst != nil {
		if !inst.Enabled {
			return plugin.ExecutionResult{}, apperr.New(apperr.Conflict, "installation %s is disabled", inst.ID)
		}
		ec.InstallationID, ec.Config, ec.Grants, ec.GatewayIDs = inst.ID, inst.Config, inst.Grants, inst.GatewayIDs
		ec.Store = &kvStore{db: s.db, workspace: a.WorkspaceID(), installation: inst.ID, plan: a.Plan}
		secrets, err := s.executionSecrets(ctx, a.WorkspaceID(), *inst)
		if db.IsTransient(err) {
			return plugin.ExecutionResult{}, fmt.Errorf("open installation secrets: %w", err)
		}
		if err != nil {
			s.log.Error("open installation secrets", "installation", inst.ID, "run", ec.WorkflowRunID, "error", err)
			return plugin.ExecutionResult{}, apperr.New(apperr.Conflict, "the installation's secrets could not be opened; ask the operator")
		}
		ec.Secrets = secrets
	} else {
		// A built-in step without an installation has no secrets; the
		// caller's context carries none either.
		ec.Secrets = nil
		cfg := ref.Config
		if len(cfg) == 0 || string(cfg) == "null" {
			cfg = json.RawMessage("{}")
		}
		if err := plugin.CheckConfig(r, cfg); err != nil {
			return plugin.ExecutionResult{}, apperr.New(apperr.Validation, "config: %v", err)
		}
		ec.Config = cfg
	}
	instID := ""
	if inst != nil {
		instID = inst.ID
	}
	plugin.Prepare(ctx, r)
	e, err := s.claimStep(ctx, a, instID, r, input, ec.IdempotencyKey)
	if err != nil {
		return plugin.ExecutionResult{}, err
	}
	ec.ExecutionID = e.ID
	started := *e.StartedAt
	out = s.runStep(ctx, r, ec, input)
	finishFields(&e, out, started)
	// Not recorded (the database stayed away through the retries), the row
	// keeps the slot until its lease ends and the reaper finishes it.
	if err := s.record(ctx, e.ID, *e.lease, func(ctx context.Context, tx *db.Tx) error {
		if instID == "" {
			// An inline built-in has no installation history to keep: its
			// row only held a concurrency slot; the run records the step.
			_, err := db.Scope(tx, a.WorkspaceID()).ExecContext(ctx, `DELETE FROM plugin_executions WHERE workspace_id = $1 AND id = $2`, e.ID)
			return err
		}
		return finishExecution(ctx, tx, a.WorkspaceID(), e)
	}); err != nil {
		s.log.Warn("record workflow step execution", "execution", e.ID, "error", err)
	}
	return out, nil
}

func (s *Service) runStep(ctx context.Context, r plugin.Runner, ec plugin.ExecutionContext, input json.RawMessage) (out plugin.ExecutionResult) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("plugin panicked", "plugin", r.Slug(), "run", ec.WorkflowRunID, "step", ec.StepID, "panic", p)
			out = plugin.Failed("the plugin crashed")
		}
	}()
	return plugin.Run(ctx, r, ec, input)
}

// claimStep records a workflow step's execution as RUNNING, within the
// workspace's concurrent executions (ErrBusy beyond them). A step run again
// after a crash has the same idempotency key and takes over its row.
func (s *Service) claimStep(ctx context.Context, a actor.Actor, instID string, r plugin.Runner, input json.RawMessage, key string) (Execution, error) {
	ws := a.WorkspaceID()
	now := db.Now()
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	e := Execution{ID: ids.New(ids.PluginExecution), InstallationID: instID, Plugin: r.Slug(), Version: r.Version(),
		Trigger: plugin.TriggerWorkflowStep, Status: Running, Input: input, IdempotencyKey: key, CreatedAt: now, StartedAt: &now,
		Logs: []plugin.LogLine{}}
	// The step's deadline (its timeout) bounds the lease.
	lease := s.leaseFor(ctx)
	e.lease = &lease
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := db.LockWorkspace(ctx, tx, ws); err != nil {
			return err
		}
		prev, again, err := byKey(ctx, tx, ws, instID, key)
		if err != nil {
			return err
		}
		if again {
			e.ID, e.CreatedAt = prev.ID, prev.CreatedAt
		}
		if err := checkConcurrency(ctx, tx, ws, a.Plan, e.ID); err != nil {
			return err
		}
		if again {
			_, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE plugin_executions SET status = 'RUNNING', started_at = $3, finished_at = NULL,
				lease_until = $4 WHERE workspace_id = $1 AND id = $2`, e.ID, now, lease)
			return err
		}
		return insertExecution(ctx, tx, ws, a.UserID, e)
	})
	return e, err
}

func stepError(err error) error {
	if apperr.Is(err, apperr.NotFound) {
		return apperr.New(apperr.NotFound, "the plugin or installation no longer exists")
	}
	return err
}

// isUserError reports whether err's message is meant for the user: an
// *apperr.Error that is not INTERNAL.
func isUserError(err error) bool {
	var ae *apperr.Error
	return errors.As(err, &ae) && ae.Code != apperr.Internal
}

// userMessage is what a user is told of err: its message if it is meant
// for them, a generic sentence otherwise (the details go to the log).
func userMessage(err error) string {
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Code != apperr.Internal {
		return ae.Message
	}
	return "the plugin could not be loaded because of an internal error; it was logged"
}
