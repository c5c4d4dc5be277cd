-- +goose Up
-- Workflows (package workflow). A workflow's definition lives in immutable
-- versions; the workflow row points at the current one. Deleting a
-- workflow keeps its versions and runs as history (deleted_at).
CREATE TABLE workflows (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    organization_id TEXT,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    version         INTEGER NOT NULL,
    version_id      TEXT NOT NULL,
    trigger_type    TEXT NOT NULL,
    hook_token      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    deleted_at      TIMESTAMPTZ
);
CREATE INDEX workflows_workspace ON workflows (workspace_id, id);
CREATE INDEX workflows_trigger ON workflows (workspace_id, trigger_type, enabled);

CREATE TABLE workflow_versions (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    workflow_id  TEXT NOT NULL REFERENCES workflows (id),
    version      INTEGER NOT NULL,
    definition   JSON NOT NULL,
    created_by   TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (workflow_id, version)
);

-- The next tick of each enabled schedule-triggered workflow. A sweep claims
-- a tick with a conditional UPDATE on next_fire_at, so however many nodes
-- sweep, a tick starts one run.
CREATE TABLE workflow_schedules (
    workflow_id  TEXT PRIMARY KEY REFERENCES workflows (id),
    workspace_id TEXT NOT NULL,
    next_fire_at TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX workflow_schedules_due ON workflow_schedules (next_fire_at);

-- Runs. seq is the checkpoint: every committed step moves it on, and a job
-- carrying an older seq does nothing. steps holds each executed step's
-- record (input, output, error, attempts, timings) as a JSON array.
CREATE TABLE workflow_runs (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    workflow_id     TEXT NOT NULL,
    version         INTEGER NOT NULL,
    version_id      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    organization_id TEXT,
    plan            TEXT NOT NULL,
    status          TEXT NOT NULL,
    trigger_kind    TEXT NOT NULL,
    input           TEXT NOT NULL,
    output          TEXT,
    error           TEXT,
    current_step_id TEXT,
    attempt         INTEGER NOT NULL DEFAULT 1,
    seq             INTEGER NOT NULL DEFAULT 0,
    steps_used      INTEGER NOT NULL DEFAULT 0,
    steps           TEXT NOT NULL DEFAULT '[]',
    idempotency_key TEXT,
    timeout_at      TIMESTAMPTZ NOT NULL,
    wake_at         TIMESTAMPTZ,
    created_by      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ
);
CREATE INDEX workflow_runs_workspace ON workflow_runs (workspace_id, id);
CREATE INDEX workflow_runs_workflow ON workflow_runs (workspace_id, workflow_id, id);
CREATE INDEX workflow_runs_status ON workflow_runs (workspace_id, status, id);
CREATE INDEX workflow_runs_timeout ON workflow_runs (status, timeout_at);
CREATE INDEX workflow_runs_finished ON workflow_runs (finished_at);
CREATE UNIQUE INDEX workflow_runs_key ON workflow_runs (workflow_id, idempotency_key);

-- +goose Down
DROP TABLE workflow_runs;
DROP TABLE workflow_schedules;
DROP TABLE workflow_versions;
DROP TABLE workflows;
