-- +goose Up
-- The path tokens of inbound URLs (gateways) and webhook URLs (workflows)
-- are credentials: anyone holding one can post events. They are stored
-- sealed with the keyring, like gateway credentials: hook_token_enc is
-- "sb1:<key id>:<ciphertext>" under the context "gateway-hook:<id>" or
-- "workflow-hook:<id>", and hook_token_key_id repeats the key id for
-- rotation and the start-up key check.
--
-- SQL cannot seal, so existing tokens are sealed by the server at start-up
-- (gateway.SealHookTokens, workflow.SealHookTokens), which empties the
-- plaintext hook_token of each row it seals; new rows store hook_token ''.
-- The token values do not change, so URLs already registered with a
-- provider keep working. Hooks are looked up by the id in the URL, so the
-- plaintext column no longer needs to be unique: SQLite cannot drop a
-- column constraint, so gateways is rebuilt without it (no table refers
-- to gateways).
CREATE TABLE gateways_new (
    id                 TEXT PRIMARY KEY,
    workspace_id       TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    organization_id    TEXT,
    type               TEXT NOT NULL CHECK (type IN ('TELEGRAM','DISCORD','SLACK','WHATSAPP','WEBHOOK')),
    name               TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'DISCONNECTED'
        CHECK (status IN ('DISCONNECTED','CONNECTING','CONNECTED','ERROR')),
    credentials_enc    TEXT NOT NULL,
    credentials_key_id TEXT NOT NULL,
    config             TEXT NOT NULL DEFAULT '{}',
    -- Plaintext token of rows not yet sealed; '' once sealed.
    hook_token         TEXT NOT NULL DEFAULT '',
    identity           TEXT NOT NULL DEFAULT '{}',
    auth_failures      INTEGER NOT NULL DEFAULT 0,
    last_connected_at  DATETIME,
    last_error_at      DATETIME,
    last_error         TEXT,
    created_at         DATETIME NOT NULL,
    updated_at         DATETIME NOT NULL,
    hook_token_enc     TEXT NOT NULL DEFAULT '',
    hook_token_key_id  TEXT NOT NULL DEFAULT ''
);
INSERT INTO gateways_new (id, workspace_id, user_id, organization_id, type, name, status, credentials_enc,
    credentials_key_id, config, hook_token, identity, auth_failures, last_connected_at, last_error_at, last_error,
    created_at, updated_at)
SELECT id, workspace_id, user_id, organization_id, type, name, status, credentials_enc,
    credentials_key_id, config, hook_token, identity, auth_failures, last_connected_at, last_error_at, last_error,
    created_at, updated_at FROM gateways;
DROP TABLE gateways;
ALTER TABLE gateways_new RENAME TO gateways;
CREATE INDEX gateways_workspace ON gateways (workspace_id, id);
CREATE INDEX gateways_key ON gateways (credentials_key_id);
CREATE INDEX gateways_hook_key ON gateways (hook_token_key_id);
ALTER TABLE workflows ADD COLUMN hook_token_enc TEXT NOT NULL DEFAULT '';
ALTER TABLE workflows ADD COLUMN hook_token_key_id TEXT NOT NULL DEFAULT '';
CREATE INDEX workflows_hook_key ON workflows (hook_token_key_id);

-- +goose Down
-- Sealed tokens cannot be opened in SQL: going down leaves every sealed
-- hook without a token (its URL answers 404 until the owner creates a new
-- one). The uniqueness of the plaintext column is not restored, since the
-- emptied rows share ''.
DROP INDEX workflows_hook_key;
ALTER TABLE workflows DROP COLUMN hook_token_key_id;
ALTER TABLE workflows DROP COLUMN hook_token_enc;
DROP INDEX gateways_hook_key;
ALTER TABLE gateways DROP COLUMN hook_token_key_id;
ALTER TABLE gateways DROP COLUMN hook_token_enc;
