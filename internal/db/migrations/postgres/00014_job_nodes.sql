-- +goose Up
-- The worker nodes of a PostgreSQL cluster and when each was last alive. A
-- node's River client id (river_job.attempted_by) is its id here; it
-- refreshes heartbeat_at every few seconds while it works jobs and deletes
-- its row when it stops cleanly. A 'running' job whose node stopped beating
-- is made available again within seconds instead of after River's rescue
-- delay (internal/jobs/nodes.go).
CREATE TABLE job_nodes (
    id           TEXT PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE job_nodes;
