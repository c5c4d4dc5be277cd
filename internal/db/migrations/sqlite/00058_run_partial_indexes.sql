-- +goose Up
-- Every index of workflow_runs is written by every run's insert, and most
-- runs have no parent, no idempotency key, and finish in the commit that
-- creates them. Indexing only the rows each index's queries look for
-- (they all ask for parent_run_id = ?, idempotency_key = ?, or
-- status = 'running') leaves three of nine B-trees out of a typical run's
-- insert, with the same answers and the same uniqueness.
DROP INDEX workflow_runs_parent;
CREATE INDEX workflow_runs_parent ON workflow_runs (parent_run_id, parent_seq, child_index) WHERE parent_run_id IS NOT NULL;
DROP INDEX workflow_runs_key;
CREATE UNIQUE INDEX workflow_runs_key ON workflow_runs (workflow_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
DROP INDEX workflow_runs_timeout;
CREATE INDEX workflow_runs_timeout ON workflow_runs (timeout_at) WHERE status = 'running';

-- +goose Down
DROP INDEX workflow_runs_timeout;
CREATE INDEX workflow_runs_timeout ON workflow_runs (status, timeout_at);
DROP INDEX workflow_runs_key;
CREATE UNIQUE INDEX workflow_runs_key ON workflow_runs (workflow_id, idempotency_key);
DROP INDEX workflow_runs_parent;
CREATE INDEX workflow_runs_parent ON workflow_runs (parent_run_id, parent_seq, child_index);
