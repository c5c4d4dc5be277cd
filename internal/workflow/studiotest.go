package workflow

// Test runs: the editor runs a definition that is not saved yet. The
// definition is stored in workflow_test_definitions (never a version, so
// version listings and diffs do not see it) and the run's version_id names
// that row: a test run is checkpointed, resumed after a crash, cancelled
// and retried like any other run. Its version is the workflow's version
// the draft was based on, and it is marked test. Steps whose ids are
// pinned are not run: their pinned output is recorded instead (pinned:
// true). Test runs are counted against the plan and their steps charged
// like any run's; they are deleted 24 h after they end.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// TestRetention is how long an ended test run is kept.
const TestRetention = 24 * time.Hour

// TestInput is the body of POST /workflows/{id}/test.
type TestInput struct {
	// Definition is the full, unsaved definition to run.
	Definition json.RawMessage `json:"definition"`
	// Input is what the run starts with (the trigger's data).
	Input json.RawMessage `json:"input,omitempty"`
	// Pinned maps step ids to outputs used instead of running the steps.
	// Ids that name no step of the definition are ignored (the editor
	// keeps the pins of deleted steps in its draft). A pinned condition's
	// output is true, false or {"result": true|false}.
	Pinned map[string]json.RawMessage `json:"pinned,omitempty"`
	// IdempotencyKey is an alias of the Idempotency-Key header: one key,
	// one test run.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// TestResult is the answer of POST /workflows/{id}/test.
type TestResult struct {
	Run Run `json:"run"`
}

// Test validates an unsaved definition and starts a test run of it. With
// wait > 0 it answers when the run ends or wait passes, whichever is
// first.
func (s *Service) Test(ctx context.Context, a actor.Actor, id string, in TestInput, wait time.Duration) (Run, error) {
	// Running a definition nobody saved acts like saving and running one.
	if err := allow(a, actor.PermWorkflowExecute); err != nil {
		return Run{}, err
	}
	if err := allow(a, actor.PermWorkflowUpdate); err != nil {
		return Run{}, err
	}
	if isNull(in.Definition) {
		return Run{}, apperr.Invalid(apperr.FieldError{Field: "definition", Message: "is required"})
	}
	def, c, err := s.validate(ctx, a, in.Definition)
	if err != nil {
		return Run{}, err
	}
	// Its subWorkflow steps call workflows of this workspace, without a
	// cycle through this one, as a save of the draft would require.
	if err := s.checkCalls(ctx, a, id, c); err != nil {
		return Run{}, err
	}
	pinned := map[string]json.RawMessage{}
	var p problems
	for k, v := range in.Pinned {
		cs := c.steps[k]
		if cs == nil {
			continue
		}
		if len(v) == 0 {
			v = json.RawMessage("null")
		}
		if cs.Type == StepCondition {
			if _, ok := pinnedBranch(v); !ok {
				p.add("pinned."+k, `a condition's pinned output is true, false or {"result": true|false}`)
			}
		}
		pinned[k] = v
	}
	if len(p) > 0 {
		return Run{}, apperr.Invalid(p...)
	}
	pinnedRaw, err := checkPinned(pinned)
	if err != nil {
		return Run{}, err
	}
	ws := a.WorkspaceID()
	w, err := s.get(ctx, s.DB.Read(), ws, id)
	if err != nil {
		return Run{}, apperr.Wrap(err, "test workflow")
	}
	defRaw, _ := json.Marshal(def)
	testID := ids.New(ids.WorkflowVersion)
	err = s.DB.Tx(ctx, func(tx *db.Tx) error {
		_, err := db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO workflow_test_definitions (workspace_id, id, workflow_id, definition,
			pinned, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`, testID, id, string(defRaw), string(pinnedRaw),
			nullable(a.UserID), s.now())
		return err
	})
	if err != nil {
		return Run{}, apperr.Wrap(err, "test workflow")
	}
	c.pinned = pinned
	s.compiled.put(testID, c)
	w.versionID, w.plan = testID, a.Plan
	r, _, err := s.begin(ctx, w, ws, start{trigger: TriggerManual, input: in.Input, by: a.UserID, inline: true, test: true})
	if err != nil || wait <= 0 || r.Terminal() {
		return r, err
	}
	return s.Wait(ctx, ws, r.ID, wait)
}

// loadTestCompiled loads the unsaved definition of a test run.
func (s *Service) loadTestCompiled(ctx context.Context, q db.Querier, ws, id string) (*compiled, error) {
	var raw, pinnedRaw string
	if err := db.Scope(q, ws).QueryRowContext(ctx, `SELECT definition, pinned FROM workflow_test_definitions WHERE workspace_id = $1 AND id = $2`,
		id).Scan(&raw, &pinnedRaw); err != nil {
		return nil, fmt.Errorf("load version %s: %w", id, err)
	}
	var def Definition
	if err := json.Unmarshal([]byte(raw), &def); err != nil {
		return nil, fmt.Errorf("decode test definition %s: %w", id, err)
	}
	pinned := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(pinnedRaw), &pinned); err != nil {
		return nil, fmt.Errorf("decode pinned outputs %s: %w", id, err)
	}
	c, err := compile(ctx, actor.Actor{System: true}, def, nil)
	if err != nil {
		return nil, fmt.Errorf("test definition %s no longer compiles: %w", id, err)
	}
	c.pinned = pinned
	s.compiled.put(id, c)
	return c, nil
}

// pinnedBranch reads a condition's pinned output.
func pinnedBranch(v json.RawMessage) (bool, bool) {
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return b, true
	}
	var o struct {
		Result *bool `json:"result"`
	}
	if json.Unmarshal(v, &o) == nil && o.Result != nil {
		return *o.Result, true
	}
	return false, false
}

// usePinned records a pinned step as succeeded with its pinned output and
// moves on, without running it (no plugin call, no message, no wait).
func (x *exec) usePinned(cs *cstep, out json.RawMessage) {
	started := db.Now()
	if cs.Type == StepCondition {
		b, _ := pinnedBranch(out)
		branch := fmt.Sprint(b)
		x.record(cs, StepSucceeded, nil, map[string]any{"result": b}, "", branch, started, nil)
		x.records[len(x.records)-1].Pinned = true
		x.cur, x.attempt = next(cs, branch), 1
		return
	}
	x.record(cs, StepSucceeded, nil, out, "", "", started, nil)
	x.records[len(x.records)-1].Pinned = true
	x.cur, x.attempt = next(cs, ""), 1
}

// cleanupTests deletes test runs that ended more than TestRetention ago
// and the test definitions no run uses any more.
func (s *Service) cleanupTests(ctx context.Context) (int64, error) {
	before := s.now().Add(-TestRetention)
	var total int64
	for {
		var n int64
		err := s.DB.Tx(ctx, func(tx *db.Tx) error {
			// Every workspace's: retention is the system's.
			res, err := tx.ExecContext(ctx, `DELETE FROM workflow_runs WHERE id IN (SELECT id FROM workflow_runs
				WHERE test = $1 AND status <> 'running' AND finished_at < $2 LIMIT 1000)`, true, before)
			if err != nil {
				return err
			}
			n, _ = res.RowsAffected()
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("delete old test runs: %w", err)
		}
		total += n
		if n < 1000 {
			break
		}
	}
	err := s.DB.Tx(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM workflow_test_definitions WHERE created_at < $1 AND NOT EXISTS
			(SELECT 1 FROM workflow_runs r WHERE r.workspace_id = workflow_test_definitions.workspace_id
			AND r.workflow_id = workflow_test_definitions.workflow_id AND r.version_id = workflow_test_definitions.id)`, before)
		return err
	})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return total, fmt.Errorf("delete old test definitions: %w", err)
	}
	return total, nil
}

// RunDefinition is the definition a run executes: its version's, or for a
// test run the unsaved definition it was started with and its pins.
type RunDefinition struct {
	RunID      string                     `json:"runId"`
	Version    int                        `json:"version"`
	Test       bool                       `json:"test"`
	Definition Definition                 `json:"definition"`
	Pinned     map[string]json.RawMessage `json:"pinned"`
}

// GetRunDefinition returns the definition a run executes, so a run
// inspector draws the graph the run took (a test run's is no version).
func (s *Service) GetRunDefinition(ctx context.Context, a actor.Actor, id string) (RunDefinition, error) {
	r, err := s.GetRun(ctx, a, id)
	if err != nil {
		return RunDefinition{}, err
	}
	c, err := s.loadCompiled(ctx, s.DB.Read(), a.WorkspaceID(), r.versionID)
	if err != nil {
		return RunDefinition{}, apperr.Wrap(err, "get run definition")
	}
	out := RunDefinition{RunID: r.ID, Version: r.Version, Test: r.Test, Definition: c.def, Pinned: c.pinned}
	if out.Pinned == nil {
		out.Pinned = map[string]json.RawMessage{}
	}
	return out, nil
}
