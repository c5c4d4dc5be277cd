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
-- plaintext column no longer needs to be unique.
-- IF EXISTS: going down does not restore the constraint.
ALTER TABLE gateways DROP CONSTRAINT IF EXISTS gateways_hook_token_key;
ALTER TABLE gateways ADD COLUMN hook_token_enc TEXT NOT NULL DEFAULT '';
ALTER TABLE gateways ADD COLUMN hook_token_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE workflows ADD COLUMN hook_token_enc TEXT NOT NULL DEFAULT '';
ALTER TABLE workflows ADD COLUMN hook_token_key_id TEXT NOT NULL DEFAULT '';
CREATE INDEX gateways_hook_key ON gateways (hook_token_key_id);
CREATE INDEX workflows_hook_key ON workflows (hook_token_key_id);

-- +goose Down
-- Sealed tokens cannot be opened in SQL: going down leaves every sealed
-- hook without a token (its URL answers 404 until the owner creates a new
-- one). The uniqueness of the plaintext column is not restored, since the
-- emptied rows share ''.
DROP INDEX workflows_hook_key;
DROP INDEX gateways_hook_key;
ALTER TABLE workflows DROP COLUMN hook_token_key_id;
ALTER TABLE workflows DROP COLUMN hook_token_enc;
ALTER TABLE gateways DROP COLUMN hook_token_key_id;
ALTER TABLE gateways DROP COLUMN hook_token_enc;
