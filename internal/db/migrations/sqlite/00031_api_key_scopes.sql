-- +goose Up
-- Every API key carries scopes (space-separated; '*' is full access, what
-- every key had before scopes existed, so existing keys keep working). A key
-- with an organization_id is the organization's own: it acts as the
-- organization, and user_id only records who created it.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '*';
ALTER TABLE api_keys ADD COLUMN organization_id TEXT;
CREATE INDEX api_keys_org ON api_keys (organization_id, revoked_at);

-- +goose Down
DROP INDEX api_keys_org;
ALTER TABLE api_keys DROP COLUMN organization_id;
ALTER TABLE api_keys DROP COLUMN scopes;
