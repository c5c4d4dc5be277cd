-- +goose Up
-- The nodes serving the API and when each was last alive. Every node
-- refreshes its row every few seconds and deletes it when it stops; the
-- number of live rows splits the plans' API request limits into per-node
-- shares, kept in memory (internal/ratelimit/nodes.go). On SQLite that is
-- the processes serving one database file (a rolling restart).
CREATE TABLE api_nodes (
    id           TEXT PRIMARY KEY,
    started_at   DATETIME NOT NULL,
    heartbeat_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE api_nodes;
