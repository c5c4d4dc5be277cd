-- +goose Up
-- PostgreSQL's 00051 notifies run followers of each checkpoint; SQLite is
-- one node, whose followers poll the checkpoint (workflow.FollowPoll).
SELECT 1;

-- +goose Down
SELECT 1;
