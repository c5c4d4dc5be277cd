-- +goose Up
CREATE TABLE audit_logs (
    id              TEXT PRIMARY KEY,
    seq             BIGINT NOT NULL UNIQUE,
    user_id         TEXT,
    organization_id TEXT,
    impersonator_id TEXT,
    action          TEXT NOT NULL,
    resource        TEXT NOT NULL,
    resource_id     TEXT,
    status          TEXT NOT NULL CHECK (status IN ('success','failure')),
    ip_address      TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT '',
    request_id      TEXT NOT NULL DEFAULT '',
    metadata        JSON NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
);
CREATE INDEX audit_logs_user ON audit_logs (user_id, seq);
CREATE INDEX audit_logs_organization ON audit_logs (organization_id, seq);
CREATE INDEX audit_logs_action ON audit_logs (action, seq);
CREATE INDEX audit_logs_resource ON audit_logs (resource, resource_id);
CREATE INDEX audit_logs_created ON audit_logs (created_at);

-- The head of the hash chain. Updating this one row serializes appends, so
-- the chain has no forks on any engine.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_logs;
