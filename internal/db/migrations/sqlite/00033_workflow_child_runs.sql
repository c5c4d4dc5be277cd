-- +goose Up
-- Child runs: the iterations of a forEach step, the branches of a parallel
-- step and the runs a subWorkflow step starts are rows of workflow_runs too,
-- each driven by the engine from its own checkpoint. kind is 'run' (a run
-- started by a trigger), 'iteration', 'branch', 'child' (a sub-workflow run
-- its parent waits for) or 'detached' (one it does not wait for).
-- parent_seq is the parent's checkpoint when it fanned out: a child reports
-- its end to its parent only while the parent still waits at that
-- checkpoint. A run waiting at a fan-out keeps the step's state in
-- fan_state (JSON: the step, the forEach items, how many must end) and
-- counts its children in fan_total / fan_started / fan_done, which each
-- child's end moves with one conditional UPDATE.
ALTER TABLE workflow_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run';
ALTER TABLE workflow_runs ADD COLUMN parent_run_id TEXT;
ALTER TABLE workflow_runs ADD COLUMN parent_step_id TEXT;
ALTER TABLE workflow_runs ADD COLUMN parent_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflow_runs ADD COLUMN child_index INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflow_runs ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflow_runs ADD COLUMN fan_state TEXT;
ALTER TABLE workflow_runs ADD COLUMN fan_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflow_runs ADD COLUMN fan_started INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflow_runs ADD COLUMN fan_done INTEGER NOT NULL DEFAULT 0;
CREATE INDEX workflow_runs_parent ON workflow_runs (parent_run_id, parent_seq, child_index);

-- +goose Down
DROP INDEX workflow_runs_parent;
ALTER TABLE workflow_runs DROP COLUMN fan_done;
ALTER TABLE workflow_runs DROP COLUMN fan_started;
ALTER TABLE workflow_runs DROP COLUMN fan_total;
ALTER TABLE workflow_runs DROP COLUMN fan_state;
ALTER TABLE workflow_runs DROP COLUMN depth;
ALTER TABLE workflow_runs DROP COLUMN child_index;
ALTER TABLE workflow_runs DROP COLUMN parent_seq;
ALTER TABLE workflow_runs DROP COLUMN parent_step_id;
ALTER TABLE workflow_runs DROP COLUMN parent_run_id;
ALTER TABLE workflow_runs DROP COLUMN kind;
