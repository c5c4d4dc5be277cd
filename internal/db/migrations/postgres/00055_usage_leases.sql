-- +goose Up
-- Blocks of a workspace's daily execution counter leased by a node
-- (internal/credit/lease.go): counted in usage_counters.used when leased,
-- spent in the node's memory, and given back (granted - spent) when the
-- lease ends. spent is the node's last checkpoint, so a node that died
-- holding a lease has its unspent part given back by any other node once
-- the lease has expired.
CREATE TABLE usage_leases (
    workspace_id TEXT NOT NULL,
    id           TEXT NOT NULL,
    metric       TEXT NOT NULL,
    period       TEXT NOT NULL,
    granted      BIGINT NOT NULL,
    spent        BIGINT NOT NULL DEFAULT 0,
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX usage_leases_expiry ON usage_leases (expires_at);

-- +goose Down
DROP TABLE usage_leases;
