-- +goose Up
-- Paused workspaces (package workspace): a workspace whose owner's account
-- is deactivated. While its row exists, the workspace's webhooks and
-- inbound hooks answer 404, its schedules skip their ticks, its event
-- subscriptions deliver nothing and its queued work waits; reactivation
-- deletes the row and all of it resumes. paused_at lets a resume push run
-- timeouts back by the time spent paused.
CREATE TABLE workspace_pauses (
    workspace_id TEXT PRIMARY KEY,
    reason       TEXT NOT NULL,
    paused_at    TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE workspace_pauses;
