-- +goose Up
-- Every commit of a run moves its checkpoint (seq). The trigger sends the
-- run's id on the switchboard_run_checkpoint channel; PostgreSQL delivers
-- it when the transaction commits, so each node's listener wakes the
-- streams following that run (GET /runs/{id}/stream) at once instead of
-- at their next poll.
-- +goose StatementBegin
CREATE FUNCTION switchboard_run_checkpoint_notify() RETURNS trigger AS $$
BEGIN
	PERFORM pg_notify('switchboard_run_checkpoint', NEW.id);
	RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER workflow_run_checkpoint AFTER INSERT OR UPDATE OF seq ON workflow_runs
	FOR EACH ROW EXECUTE FUNCTION switchboard_run_checkpoint_notify();

-- +goose Down
DROP TRIGGER workflow_run_checkpoint ON workflow_runs;
DROP FUNCTION switchboard_run_checkpoint_notify();
