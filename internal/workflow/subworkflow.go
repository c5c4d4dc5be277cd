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
)

// TriggerWorkflow is the trigger of a run a subWorkflow step started.
const TriggerWorkflow TriggerType = "workflow"

// startSub starts the run of a subWorkflow step in the parent's commit, by
// the path every run takes (so it counts against the plan's executions as
// one run), linked to the parent.
func (s *Service) startSub(ctx context.Context, tx *db.Tx, x *exec, cs *cstep, f *fanOut, seq int) (string, error) {
	r := x.run
	ws := r.workspaceID
	sub := cs.fan.sub
	w, err := s.get(ctx, tx, ws, sub.WorkflowID)
	if apperr.Is(err, apperr.NotFound) {
		return "", apperr.New(apperr.NotFound, "the workflow %s it calls does not exist (deleted?)", sub.WorkflowID)
	}
	if err != nil {
		return "", err
	}
	if sub.Version > 0 {
		err := db.Scope(tx, ws).QueryRowContext(ctx, `SELECT id FROM workflow_versions WHERE workspace_id = $1 AND workflow_id = $2 AND version = $3`,
			w.ID, sub.Version).Scan(&w.versionID)
		if errors.Is(err, sql.ErrNoRows) {
			return "", apperr.New(apperr.NotFound, "the workflow %s has no version %d", w.ID, sub.Version)
		}
		if err != nil {
			return "", fmt.Errorf("find version: %w", err)
		}
		w.Version = sub.Version
	}
	w.plan = r.plan
	input, err := checkInput(encode(f.input))
	if err != nil {
		return "", err
	}
	st := start{trigger: TriggerWorkflow, input: input, by: r.CreatedBy}
	cx, err := s.newRun(ctx, tx, w, ws, st)
	if err != nil {
		return "", err
	}
	kind := KindDetached
	if sub.Wait {
		kind = KindChild
	}
	// A refusal (the plan's daily executions) leaves nothing behind: the
	// step fails and the parent's commit goes on.
	err = tx.Savepoint(ctx, "start_sub_workflow", func() error {
		if _, err := s.startTx(ctx, tx, cx, st, nil); err != nil {
			return err
		}
		_, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE workflow_runs SET kind = $3, parent_run_id = $4, parent_step_id = $5,
			parent_seq = $6, depth = $7 WHERE workspace_id = $1 AND id = $2`, cx.run.ID, kind, r.ID, cs.ID, seq, r.Depth+1)
		return err
	})
	if err != nil {
		return "", err
	}
	return cx.run.ID, nil
}

// checkCalls refuses, at save, a definition whose subWorkflow steps name
// no workflow (or version) of the workspace, call the workflow being saved
// back (directly or through others), or nest deeper than MaxRunDepth.
// self is the workflow being saved ("" for a new one).
func (s *Service) checkCalls(ctx context.Context, a actor.Actor, self string, c *compiled) error {
	var p problems
	ws := a.WorkspaceID()
	for i, st := range c.def.Steps {
		cs := c.steps[st.ID]
		if st.Type != StepSubWorkflow || cs == nil || cs.fan == nil {
			continue
		}
		f := fmt.Sprintf("definition.steps[%d].config", i)
		sub := cs.fan.sub
		if sub.WorkflowID == self {
			p.add(f+".workflowId", "calls this workflow itself; cycles of sub-workflows are refused")
			continue
		}
		depth, path, err := s.callChain(ctx, ws, sub.WorkflowID, sub.Version, self, []string{sub.WorkflowID})
		switch {
		case apperr.Is(err, apperr.NotFound):
			field := ".workflowId"
			if sub.Version > 0 && strings.Contains(err.Error(), "version") {
				field = ".version"
			}
			var ae *apperr.Error
			errors.As(err, &ae)
			p.add(f+field, "%s", ae.Message)
		case err != nil:
			return err
		case path != nil:
			p.add(f+".workflowId", "calls %s, which calls this workflow back: cycles of sub-workflows are refused", strings.Join(path, " → "))
		case depth+1 > MaxRunDepth:
			p.add(f+".workflowId", "calls sub-workflows %d deep; at most %d", depth+1, MaxRunDepth)
		}
	}
	if len(p) > 0 {
		return apperr.Invalid(p...)
	}
	return nil
}

// callChain returns how deep the calls of workflow id (at version, 0: the
// current one) go, or the path back to self (a cycle).
func (s *Service) callChain(ctx context.Context, ws, id string, version int, self string, path []string) (int, []string, error) {
	if len(path) > MaxRunDepth+1 {
		return len(path), nil, nil
	}
	def, err := s.definitionOf(ctx, ws, id, version)
	if err != nil {
		return 0, nil, err
	}
	deepest := 0
	for _, st := range def.Steps {
		if st.Type != StepSubWorkflow {
			continue
		}
		var sub SubWorkflowConfig
		if json.Unmarshal(st.Config, &sub) != nil {
			continue
		}
		next := append(append([]string{}, path...), sub.WorkflowID)
		if sub.WorkflowID == self || self == "" && contains(path, sub.WorkflowID) {
			return 0, next, nil
		}
		if contains(path, sub.WorkflowID) {
			continue // a cycle not through self: refused when it was saved
		}
		d, cycle, err := s.callChain(ctx, ws, sub.WorkflowID, sub.Version, self, next)
		if apperr.Is(err, apperr.NotFound) {
			continue // a callee deleted since: its step fails when it runs
		}
		if err != nil || cycle != nil {
			return 0, cycle, err
		}
		deepest = max(deepest, d+1)
	}
	return deepest, nil, nil
}

func (s *Service) definitionOf(ctx context.Context, ws, id string, version int) (Definition, error) {
	if version <= 0 {
		w, err := s.get(ctx, s.DB.Read(), ws, id)
		if err != nil {
			return Definition{}, apperr.New(apperr.NotFound, "names no workflow of this workspace (%q)", id)
		}
		return w.Definition, nil
	}
	var raw string
	err := db.Scope(s.DB.Read(), ws).QueryRowContext(ctx, `SELECT v.definition FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id
		WHERE v.workspace_id = $1 AND v.workflow_id = $2 AND v.version = $3 AND w.deleted_at IS NULL`, id, version).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return Definition{}, apperr.New(apperr.NotFound, "names no version %d of workflow %q in this workspace", version, id)
	}
	if err != nil {
		return Definition{}, fmt.Errorf("load version: %w", err)
	}
	var d Definition
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return Definition{}, fmt.Errorf("decode version: %w", err)
	}
	return d, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// workflowDeleted tells the relatives of the runs a workflow's deletion
// just cancelled (at now): their children are cancelled, and a caller
// waiting for one of them learns that its sub-workflow run ended.
func (s *Service) workflowDeleted(ctx context.Context, tx *db.Tx, ws, id string, now time.Time) error {
	rows, err := db.Scope(tx, ws).QueryContext(ctx, `SELECT `+runColumns+` FROM workflow_runs
		WHERE workspace_id = $1 AND workflow_id = $2 AND status = 'cancelled' AND finished_at = $3`, id, now)
	if err != nil {
		return fmt.Errorf("find cancelled runs: %w", err)
	}
	var runs []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return err
		}
		runs = append(runs, r)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, r := range runs {
		if err := s.runEnded(ctx, tx, r, StatusCancelled, "the workflow was deleted"); err != nil {
			return err
		}
	}
	return nil
}
