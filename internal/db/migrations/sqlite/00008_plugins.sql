-- +goose Up
-- Plugins (packages plugin/market and plugin/install). Built-in plugins live
-- in code; the marketplace holds third-party WebAssembly plugins, each
-- version reviewed before it can be installed.
CREATE TABLE marketplace_plugins (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    author_id   TEXT NOT NULL,
    featured    INTEGER NOT NULL DEFAULT 0,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);

-- One submitted version: its manifest and module. Only APPROVED versions
-- can be newly installed; YANKED ones keep running where installed.
CREATE TABLE marketplace_versions (
    id            TEXT PRIMARY KEY,
    plugin_id     TEXT NOT NULL REFERENCES marketplace_plugins (id),
    version       TEXT NOT NULL,
    manifest      TEXT NOT NULL,
    wasm          BLOB NOT NULL,
    wasm_sha256   TEXT NOT NULL,
    wasm_size     INTEGER NOT NULL,
    status        TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING','APPROVED','REJECTED','YANKED')),
    submitted_by  TEXT NOT NULL,
    review_reason TEXT,
    reviewed_by   TEXT,
    reviewed_at   DATETIME,
    created_at    DATETIME NOT NULL,
    UNIQUE (plugin_id, version)
);
CREATE INDEX marketplace_versions_status ON marketplace_versions (status, id);

-- A workspace's installed plugins (the seed's userPlugins): one per plugin.
CREATE TABLE plugin_installations (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    organization_id TEXT,
    plugin_slug     TEXT NOT NULL,
    version         TEXT NOT NULL,
    -- The marketplace version; NULL for a built-in.
    version_id      TEXT REFERENCES marketplace_versions (id),
    config          TEXT NOT NULL DEFAULT '{}',
    grants          TEXT NOT NULL DEFAULT '[]',
    gateway_ids     TEXT NOT NULL DEFAULT '[]',
    enabled         INTEGER NOT NULL DEFAULT 1,
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL,
    UNIQUE (workspace_id, plugin_slug)
);
CREATE INDEX plugin_installations_workspace ON plugin_installations (workspace_id, id);

-- Every execution of an installation, with its result and metrics.
CREATE TABLE plugin_executions (
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
CREATE INDEX plugin_executions_installation ON plugin_executions (workspace_id, installation_id, id);
CREATE INDEX plugin_executions_status ON plugin_executions (workspace_id, status);
CREATE UNIQUE INDEX plugin_executions_idempotency ON plugin_executions (installation_id, idempotency_key);

-- The per-installation key-value store of sandboxed plugins; sizes count
-- against the workspace's plan storage.
CREATE TABLE plugin_kv (
    workspace_id    TEXT NOT NULL,
    installation_id TEXT NOT NULL,
    kv_key          TEXT NOT NULL,
    value           BLOB NOT NULL,
    size            INTEGER NOT NULL,
    updated_at      DATETIME NOT NULL,
    PRIMARY KEY (installation_id, kv_key)
);
CREATE INDEX plugin_kv_workspace ON plugin_kv (workspace_id);

-- +goose Down
DROP TABLE plugin_kv;
DROP TABLE plugin_executions;
DROP TABLE plugin_installations;
DROP TABLE marketplace_versions;
DROP TABLE marketplace_plugins;
