-- +goose Up
-- The last cron tick each scheduler schedule fired for. A sweep claims a
-- tick with a conditional UPDATE (last_tick < tick), so however many nodes
-- sweep at once, each tick fires once.
CREATE TABLE plugin_schedule_ticks (
    workspace_id    TEXT NOT NULL,
    installation_id TEXT NOT NULL,
    schedule_name   TEXT NOT NULL,
    last_tick       DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL,
    PRIMARY KEY (installation_id, schedule_name)
);
CREATE INDEX plugin_schedule_ticks_workspace ON plugin_schedule_ticks (workspace_id);

-- +goose Down
DROP TABLE plugin_schedule_ticks;
