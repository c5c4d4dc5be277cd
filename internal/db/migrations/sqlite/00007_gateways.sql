-- +goose Up
-- Gateways: a workspace's connected bots and channels (package gateway).
-- Credentials are stored only sealed (package secret): credentials_enc is
-- "sb1:<key id>:<ciphertext>", and credentials_key_id repeats the key id so
-- rotation and the start-up key check need no decryption.
CREATE TABLE gateways (
    id                 TEXT PRIMARY KEY,
    workspace_id       TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    organization_id    TEXT,
    type               TEXT NOT NULL CHECK (type IN ('TELEGRAM','DISCORD','SLACK','WHATSAPP','WEBHOOK')),
    name               TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'DISCONNECTED'
        CHECK (status IN ('DISCONNECTED','CONNECTING','CONNECTED','ERROR')),
    credentials_enc    TEXT NOT NULL,
    credentials_key_id TEXT NOT NULL,
    config             TEXT NOT NULL DEFAULT '{}',
    -- The unguessable path token of the inbound URL; provider signatures
    -- authenticate deliveries on top of it.
    hook_token         TEXT NOT NULL UNIQUE,
    identity           TEXT NOT NULL DEFAULT '{}',
    auth_failures      INTEGER NOT NULL DEFAULT 0,
    last_connected_at  DATETIME,
    last_error_at      DATETIME,
    last_error         TEXT,
    created_at         DATETIME NOT NULL,
    updated_at         DATETIME NOT NULL
);
CREATE INDEX gateways_workspace ON gateways (workspace_id, id);
CREATE INDEX gateways_key ON gateways (credentials_key_id);

-- Inbound events, stored before the provider is answered. A provider's
-- retry of a delivery carries the same provider_event_id and is dropped by
-- the unique index, so every delivery is processed once.
CREATE TABLE gateway_events (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL,
    gateway_id        TEXT NOT NULL,
    type              TEXT NOT NULL,
    provider_event_id TEXT NOT NULL,
    payload           TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'RECEIVED' CHECK (status IN ('RECEIVED','PROCESSED')),
    created_at        DATETIME NOT NULL,
    processed_at      DATETIME
);
CREATE UNIQUE INDEX gateway_events_dedupe ON gateway_events (gateway_id, provider_event_id);
CREATE INDEX gateway_events_workspace ON gateway_events (workspace_id, gateway_id, id);

-- Outbound messages; a job delivers each, with retries.
CREATE TABLE gateway_sends (
    id                  TEXT PRIMARY KEY,
    workspace_id        TEXT NOT NULL,
    gateway_id          TEXT NOT NULL,
    chat_id             TEXT NOT NULL DEFAULT '',
    text                TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'QUEUED' CHECK (status IN ('QUEUED','SENT','FAILED')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    provider_message_id TEXT,
    last_error          TEXT,
    created_at          DATETIME NOT NULL,
    updated_at          DATETIME NOT NULL,
    sent_at             DATETIME
);
CREATE INDEX gateway_sends_workspace ON gateway_sends (workspace_id, gateway_id, id);

-- +goose Down
DROP TABLE gateway_sends;
DROP TABLE gateway_events;
DROP TABLE gateways;
