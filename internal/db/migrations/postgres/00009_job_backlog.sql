-- +goose Up
-- How many jobs each workspace has waiting. The job router reads it when it
-- enqueues: jobs beyond a workspace's fair share go in at a lower River
-- priority, so one workspace's flood never sits in front of another's work.
CREATE TABLE job_backlog (
    workspace_id TEXT PRIMARY KEY,
    queued       BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE job_backlog;
