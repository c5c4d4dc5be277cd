-- +goose Up
-- Idempotency keys of API requests (Idempotency-Key header or the
-- idempotencyKey body field): one row per workspace, route (method and
-- path) and key. The first request claims the key (in_progress) in a short
-- transaction of its own; when it ends its answer is stored (done) and
-- replayed to every later request with the same key for 24 hours. A claim
-- whose holder died is taken over once locked_until has passed.
CREATE TABLE idempotency_keys (
    workspace_id    TEXT NOT NULL,
    route           TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('in_progress', 'done')),
    claim           TEXT NOT NULL,
    response_status INTEGER,
    response_type   TEXT,
    response_body   TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    locked_until    TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, route, idem_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
