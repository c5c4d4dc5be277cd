-- +goose Up
-- The analytics built-in (package plugin/analytics): messages per
-- installation, UTC day (YYYY-MM-DD), gateway, chat and user. A message's
-- counting key goes into plugin_analytics_seen in the transaction that bumps
-- its counter, so a retried execution finds the key and counts nothing.
CREATE TABLE plugin_analytics_counts (
    workspace_id    TEXT NOT NULL,
    installation_id TEXT NOT NULL,
    day             TEXT NOT NULL,
    gateway_id      TEXT NOT NULL,
    chat_id         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    -- The user's latest known username.
    username        TEXT NOT NULL DEFAULT '',
    messages        BIGINT NOT NULL DEFAULT 0,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, installation_id, day, gateway_id, chat_id, user_id)
);

CREATE TABLE plugin_analytics_seen (
    workspace_id    TEXT NOT NULL,
    installation_id TEXT NOT NULL,
    event_key       TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, installation_id, event_key)
);

-- Event-triggered executions beyond the plan's executionsPerDay are recorded
-- SKIPPED.
ALTER TABLE plugin_executions DROP CONSTRAINT plugin_executions_status_check;
ALTER TABLE plugin_executions ADD CONSTRAINT plugin_executions_status_check
    CHECK (status IN ('QUEUED','RUNNING','SUCCEEDED','FAILED','SKIPPED'));

-- +goose Down
UPDATE plugin_executions SET status = 'FAILED' WHERE status = 'SKIPPED';
ALTER TABLE plugin_executions DROP CONSTRAINT plugin_executions_status_check;
ALTER TABLE plugin_executions ADD CONSTRAINT plugin_executions_status_check
    CHECK (status IN ('QUEUED','RUNNING','SUCCEEDED','FAILED'));
DROP TABLE plugin_analytics_seen;
DROP TABLE plugin_analytics_counts;
