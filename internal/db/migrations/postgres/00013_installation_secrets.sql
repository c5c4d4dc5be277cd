-- +goose Up
-- Write-only secrets of an installation (package plugin/install), such as a
-- user's own AI provider key for ai-reply: one JSON object {name: value}
-- sealed with the keyring under the context "installation:<id>" (so a
-- sealed value cannot be moved to another installation), with the key id
-- beside it for rotation. '' when the installation has none. The names are
-- kept in clear so the API can list them without opening anything.
ALTER TABLE plugin_installations ADD COLUMN secrets_enc TEXT NOT NULL DEFAULT '';
ALTER TABLE plugin_installations ADD COLUMN secrets_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE plugin_installations ADD COLUMN secret_names TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE plugin_installations DROP COLUMN secret_names;
ALTER TABLE plugin_installations DROP COLUMN secrets_key_id;
ALTER TABLE plugin_installations DROP COLUMN secrets_enc;
