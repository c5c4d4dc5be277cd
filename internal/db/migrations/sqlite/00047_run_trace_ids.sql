-- +goose Up
-- The trace a run started in (OpenTelemetry trace id, hex), so a run in the
-- history leads to its request, steps, jobs and outbound calls.
ALTER TABLE workflow_runs ADD COLUMN trace_id TEXT;

-- +goose Down
ALTER TABLE workflow_runs DROP COLUMN trace_id;
