-- +goose Up
-- A RUNNING plugin execution holds one of its workspace's concurrency
-- slots (the plan's cpuCores) only until lease_until: the end of its time
-- limit plus a margin. A worker that dies, or loses the database, before
-- it records the result therefore frees the slot when the lease ends, and
-- a sweep finishes the row instead of leaving it RUNNING in history.
ALTER TABLE plugin_executions ADD COLUMN lease_until TIMESTAMPTZ;
CREATE INDEX plugin_executions_lease ON plugin_executions (lease_until) WHERE status = 'RUNNING';

-- +goose Down
DROP INDEX plugin_executions_lease;
ALTER TABLE plugin_executions DROP COLUMN lease_until;
