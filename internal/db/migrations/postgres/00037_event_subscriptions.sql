-- +goose Up
-- Signed events out (docs/events.md): a workspace subscribes URLs to event
-- types. The signing secret ("whsec_" + base64) is shown once and stored
-- sealed with the keyring under the context "event-subscription:<id>";
-- secret_key_id repeats the key id for rotation and the start-up check.
CREATE TABLE event_subscriptions (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    url           TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    -- JSON array of event types, e.g. ["run.failed","credits.low"].
    events        TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    secret_sealed TEXT NOT NULL,
    secret_key_id TEXT NOT NULL,
    created_by    TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX event_subscriptions_workspace ON event_subscriptions (workspace_id, id);
CREATE INDEX event_subscriptions_key ON event_subscriptions (secret_key_id);

-- One event for one subscription. event_id is the Standard Webhooks
-- message id (webhook-id), the same for every subscription of one event
-- and across retries and redeliveries. status: pending (a job owns it),
-- succeeded, failed (out of attempts, or its subscription went away).
CREATE TABLE event_deliveries (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending','succeeded','failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_error       TEXT,
    next_attempt_at  TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    delivered_at     TIMESTAMPTZ
);
CREATE INDEX event_deliveries_subscription ON event_deliveries (workspace_id, subscription_id, id);

-- The delivery log: one row per HTTP attempt, numbered across redeliveries.
CREATE TABLE event_delivery_attempts (
    delivery_id     TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    workspace_id    TEXT NOT NULL,
    status_code     INTEGER,
    response        TEXT NOT NULL DEFAULT '',
    error           TEXT,
    duration_ms     BIGINT NOT NULL DEFAULT 0,
    attempted_at    TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ,
    PRIMARY KEY (delivery_id, attempt)
);

-- +goose Down
DROP TABLE event_delivery_attempts;
DROP TABLE event_deliveries;
DROP TABLE event_subscriptions;
