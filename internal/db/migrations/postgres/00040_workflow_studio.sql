-- +goose Up
-- The workflow studio (package workflow, studio*.go).
--
-- layout: the editor's node positions and viewport (JSON), saved without
-- making a version; NULL until the editor first saves one.
ALTER TABLE workflows ADD COLUMN layout TEXT;

-- test: a run of an unsaved definition started by the editor's test
-- button; kept 24 h, then deleted by the retention job.
ALTER TABLE workflow_runs ADD COLUMN test BOOLEAN NOT NULL DEFAULT FALSE;
-- charged_millicredits: what starting the run cost in credits (overage
-- beyond the plan's daily executions; 0 within it).
ALTER TABLE workflow_runs ADD COLUMN charged_millicredits BIGINT NOT NULL DEFAULT 0;
CREATE INDEX workflow_runs_test ON workflow_runs (finished_at) WHERE test;

-- The unsaved definitions that test runs run, with the outputs pinned for
-- them. A test run's version_id names its row here (never a version), so
-- the run resumes after a crash like any other; version listings never
-- see these. Deleted with the last run that uses them.
CREATE TABLE workflow_test_definitions (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    definition   TEXT NOT NULL,
    pinned       TEXT NOT NULL DEFAULT '{}',
    created_by   TEXT,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX workflow_test_definitions_created ON workflow_test_definitions (created_at);

-- The editor's work in progress on a workflow: a definition not yet saved
-- (it may not validate), the outputs pinned for test runs and a sample
-- input. One per workflow; saving one makes no version.
CREATE TABLE workflow_drafts (
    workflow_id  TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    definition   TEXT,
    pinned       TEXT NOT NULL DEFAULT '{}',
    input        TEXT,
    updated_by   TEXT,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE workflow_drafts;
DROP TABLE workflow_test_definitions;
DROP INDEX workflow_runs_test;
ALTER TABLE workflow_runs DROP COLUMN charged_millicredits;
ALTER TABLE workflow_runs DROP COLUMN test;
ALTER TABLE workflows DROP COLUMN layout;
