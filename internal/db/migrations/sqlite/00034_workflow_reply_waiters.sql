-- +goose Up
-- Runs waiting at a waitForReply step (package workflow, reply.go). One run
-- waits per gateway and chat: the next inbound message of that chat is
-- claimed, in the transaction that stores it, by the run named here, whose
-- checkpoint must still be seq. The branch targets are copied from the
-- step so that the claim moves the run on without reading its definition.
CREATE TABLE workflow_reply_waiters (
    gateway_id   TEXT NOT NULL,
    chat_id      TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    pattern      TEXT NOT NULL DEFAULT '',
    reply_next   TEXT NOT NULL DEFAULT '',
    timeout_next TEXT NOT NULL DEFAULT '',
    expires_at   DATETIME NOT NULL,
    created_at   DATETIME NOT NULL,
    PRIMARY KEY (gateway_id, chat_id)
);
CREATE UNIQUE INDEX workflow_reply_waiters_run ON workflow_reply_waiters (workspace_id, run_id);

-- +goose Down
DROP TABLE workflow_reply_waiters;
