-- +goose Up
-- One row per workspace that services lock (by upserting it) to serialize
-- check-then-write steps such as "count gateways, then create one under the
-- plan limit" on every engine, PostgreSQL's read committed included.
CREATE TABLE workspace_locks (
    workspace_id TEXT PRIMARY KEY,
    n            BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE workspace_locks;
