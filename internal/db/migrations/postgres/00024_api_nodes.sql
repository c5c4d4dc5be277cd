-- +goose Up
-- The nodes serving the API and when each was last alive. Every node
-- refreshes its row every few seconds and deletes it when it stops; the
-- number of live rows splits the plans' API request limits into per-node
-- shares, kept in memory (internal/ratelimit/nodes.go).
CREATE TABLE api_nodes (
    id           TEXT PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE api_nodes;
