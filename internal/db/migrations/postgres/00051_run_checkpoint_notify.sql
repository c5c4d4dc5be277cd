-- +goose Up
-- A run's commits move its checkpoint (seq). When a stream somewhere
-- follows the run (GET /runs/{id}/stream), the trigger sends the run's id
-- on the switchboard_run_checkpoint channel; PostgreSQL delivers it when
-- the transaction commits, so each node's listener wakes the streams
-- following that run at once instead of at their next poll.
--
-- Only watched runs notify: a transaction that notifies takes
-- PostgreSQL's database-wide notification lock at commit, which would
-- serialize the commits of every run of every tenant. Streams register
-- the runs they follow in run_watches (unlogged: it is soft state, lost
-- on a crash like the streams themselves, and its writes make no WAL) and
-- refresh the registration while they last.
CREATE UNLOGGED TABLE run_watches (
	run_id     TEXT PRIMARY KEY,
	expires_at TIMESTAMPTZ NOT NULL
);
-- +goose StatementBegin
CREATE FUNCTION switchboard_run_checkpoint_notify() RETURNS trigger AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM run_watches WHERE run_id = NEW.id AND expires_at > now()) THEN
		PERFORM pg_notify('switchboard_run_checkpoint', NEW.id);
	END IF;
	RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER workflow_run_checkpoint AFTER UPDATE OF seq ON workflow_runs
	FOR EACH ROW EXECUTE FUNCTION switchboard_run_checkpoint_notify();

-- +goose Down
DROP TRIGGER workflow_run_checkpoint ON workflow_runs;
DROP FUNCTION switchboard_run_checkpoint_notify();
DROP TABLE run_watches;
