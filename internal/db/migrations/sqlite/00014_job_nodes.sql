-- +goose Up
-- The worker nodes of a PostgreSQL cluster and when each was last alive
-- (internal/jobs/nodes.go). Unused on SQLite, where one process works a
-- database file and its worker lock tells a dead predecessor's jobs apart;
-- kept so both schemas stay the same.
CREATE TABLE job_nodes (
    id           TEXT PRIMARY KEY,
    started_at   DATETIME NOT NULL,
    heartbeat_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE job_nodes;
