-- +goose Up
-- Feature flags, evaluated in process on every node from a cache (package
-- flag). Targeting lists and variants are JSON arrays kept as text: they are
-- read whole into the cache and never queried by element.
CREATE TABLE feature_flags (
    id               TEXT PRIMARY KEY,
    key              TEXT NOT NULL UNIQUE,
    description      TEXT NOT NULL DEFAULT '',
    enabled          INTEGER NOT NULL DEFAULT 0,
    user_ids         TEXT NOT NULL DEFAULT '[]',
    organization_ids TEXT NOT NULL DEFAULT '[]',
    roles            TEXT NOT NULL DEFAULT '[]',
    plans            TEXT NOT NULL DEFAULT '[]',
    -- NULL means no percentage rollout, which is not the same as 0 %.
    percentage       INTEGER CHECK (percentage IS NULL OR (percentage >= 0 AND percentage <= 100)),
    variants         TEXT NOT NULL DEFAULT '[]',
    created_by       TEXT,
    updated_by       TEXT,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL
);

-- One row whose version every flag change bumps in the same transaction.
-- Nodes poll it and reload their cache when it moves, so a change reaches
-- every node without any node-to-node messaging.
CREATE TABLE flag_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO flag_state (id, version) VALUES (1, 1);

-- The seed's three flags, on for everyone so a fresh install works. The
-- seed's docker_workspace is wasm_sandbox here: third-party plugins run in a
-- WebAssembly sandbox (wazero) inside the process, not in Docker containers.
INSERT INTO feature_flags (id, key, description, enabled, created_at, updated_at) VALUES
    ('flg_01m8jqcz2zejdarsdxsxawac7n', 'workflow_builder', 'Create and edit workflows.', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('flg_01m8jqcz2zejdtsy6701fr2ca8', 'organization_support', 'Create organizations and act in them.', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('flg_01m8jqcz2zejeakf4dtvksqy3m', 'wasm_sandbox', 'Install and run sandboxed (WebAssembly) third-party plugins.', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

-- +goose Down
DROP TABLE flag_state;
DROP TABLE feature_flags;
