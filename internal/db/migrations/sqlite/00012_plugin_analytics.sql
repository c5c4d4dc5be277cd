-- +goose Up
-- The analytics built-in (package plugin/analytics): messages per
-- installation, UTC day (YYYY-MM-DD), gateway, chat and user. A message's
-- counting key goes into plugin_analytics_seen in the transaction that bumps
-- its counter, so a retried execution finds the key and counts nothing.
CREATE TABLE plugin_analytics_counts (
    workspace_id    TEXT NOT NULL,
    installation_id TEXT NOT NULL,
    day             TEXT NOT NULL,
    gateway_id      TEXT NOT NULL,
    chat_id         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    -- The user's latest known username.
    username        TEXT NOT NULL DEFAULT '',
    messages        BIGINT NOT NULL DEFAULT 0,
    updated_at      DATETIME NOT NULL,
    PRIMARY KEY (workspace_id, installation_id, day, gateway_id, chat_id, user_id)
);

CREATE TABLE plugin_analytics_seen (
    workspace_id    TEXT NOT NULL,
    installation_id TEXT NOT NULL,
    event_key       TEXT NOT NULL,
    created_at      DATETIME NOT NULL,
    PRIMARY KEY (workspace_id, installation_id, event_key)
);

-- Event-triggered executions beyond the plan's executionsPerDay are recorded
-- SKIPPED. SQLite cannot change a CHECK constraint in place, so the table is
-- rebuilt (nothing references it).
CREATE TABLE plugin_executions_new (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    installation_id TEXT NOT NULL,
    plugin_slug     TEXT NOT NULL,
    version         TEXT NOT NULL,
    trigger_kind    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('QUEUED','RUNNING','SUCCEEDED','FAILED','SKIPPED')),
    input           TEXT NOT NULL,
    output          TEXT,
    error           TEXT,
    logs            TEXT NOT NULL DEFAULT '[]',
    duration_ms     INTEGER NOT NULL DEFAULT 0,
    tokens_used     INTEGER NOT NULL DEFAULT 0,
    api_calls       INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    created_by      TEXT,
    created_at      DATETIME NOT NULL,
    started_at      DATETIME,
    finished_at     DATETIME
);
INSERT INTO plugin_executions_new (id, workspace_id, installation_id, plugin_slug, version, trigger_kind, status, input, output, error,
    logs, duration_ms, tokens_used, api_calls, idempotency_key, created_by, created_at, started_at, finished_at)
SELECT id, workspace_id, installation_id, plugin_slug, version, trigger_kind, status, input, output, error,
    logs, duration_ms, tokens_used, api_calls, idempotency_key, created_by, created_at, started_at, finished_at
FROM plugin_executions;
DROP TABLE plugin_executions;
ALTER TABLE plugin_executions_new RENAME TO plugin_executions;
CREATE INDEX plugin_executions_installation ON plugin_executions (workspace_id, installation_id, id);
CREATE INDEX plugin_executions_status ON plugin_executions (workspace_id, status);
CREATE UNIQUE INDEX plugin_executions_idempotency ON plugin_executions (installation_id, idempotency_key);

-- +goose Down
CREATE TABLE plugin_executions_old (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    installation_id TEXT NOT NULL,
    plugin_slug     TEXT NOT NULL,
    version         TEXT NOT NULL,
    trigger_kind    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('QUEUED','RUNNING','SUCCEEDED','FAILED')),
    input           TEXT NOT NULL,
    output          TEXT,
    error           TEXT,
    logs            TEXT NOT NULL DEFAULT '[]',
    duration_ms     INTEGER NOT NULL DEFAULT 0,
    tokens_used     INTEGER NOT NULL DEFAULT 0,
    api_calls       INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    created_by      TEXT,
    created_at      DATETIME NOT NULL,
    started_at      DATETIME,
    finished_at     DATETIME
);
INSERT INTO plugin_executions_old (id, workspace_id, installation_id, plugin_slug, version, trigger_kind, status, input, output, error,
    logs, duration_ms, tokens_used, api_calls, idempotency_key, created_by, created_at, started_at, finished_at)
SELECT id, workspace_id, installation_id, plugin_slug, version, trigger_kind,
    CASE WHEN status = 'SKIPPED' THEN 'FAILED' ELSE status END, input, output, error,
    logs, duration_ms, tokens_used, api_calls, idempotency_key, created_by, created_at, started_at, finished_at
FROM plugin_executions;
DROP TABLE plugin_executions;
ALTER TABLE plugin_executions_old RENAME TO plugin_executions;
CREATE INDEX plugin_executions_installation ON plugin_executions (workspace_id, installation_id, id);
CREATE INDEX plugin_executions_status ON plugin_executions (workspace_id, status);
CREATE UNIQUE INDEX plugin_executions_idempotency ON plugin_executions (installation_id, idempotency_key);
DROP TABLE plugin_analytics_seen;
DROP TABLE plugin_analytics_counts;
