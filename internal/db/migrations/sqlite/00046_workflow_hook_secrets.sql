-- +goose Up
-- Verified webhooks in (docs/workflows.md): the HMAC secret a webhook
-- workflow's trigger verifies calls with. Definitions are readable and
-- versioned, so the secret lives here, sealed with the keyring under the
-- context "workflow-hook-secret:<workflow id>"; the definition names only
-- the scheme and header.
CREATE TABLE workflow_hook_secrets (
    -- id is the workflow's id (secret.Column expects the column "id").
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    secret_key_id TEXT NOT NULL,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);
CREATE INDEX workflow_hook_secrets_key ON workflow_hook_secrets (secret_key_id);

-- +goose Down
DROP TABLE workflow_hook_secrets;
