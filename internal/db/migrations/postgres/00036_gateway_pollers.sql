-- +goose Up
-- Telegram gateways that receive by long polling (getUpdates) instead of a
-- webhook. One row per polled gateway: the lease that lets one node of the
-- cluster poll it (holder, until lease_until; another node takes over once
-- the lease has lapsed) and the offset of the next update to ask for, so
-- that an update confirmed once is never asked for again, on any node.
CREATE TABLE gateway_pollers (
    gateway_id    TEXT PRIMARY KEY REFERENCES gateways (id) ON DELETE CASCADE,
    workspace_id  TEXT NOT NULL,
    holder        TEXT,
    lease_until   TIMESTAMPTZ,
    update_offset BIGINT NOT NULL DEFAULT 0,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX gateway_pollers_workspace ON gateway_pollers (workspace_id);

-- +goose Down
DROP TABLE gateway_pollers;
