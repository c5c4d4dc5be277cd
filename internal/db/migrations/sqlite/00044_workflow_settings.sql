-- +goose Up
-- A workspace's workflow settings (package workflow, errorflow.go): the
-- error workflow started when a run of a workflow without its own
-- settings.errorWorkflowId fails.
CREATE TABLE workflow_settings (
    workspace_id      TEXT PRIMARY KEY,
    error_workflow_id TEXT,
    updated_at        DATETIME NOT NULL
);

-- +goose Down
DROP TABLE workflow_settings;
