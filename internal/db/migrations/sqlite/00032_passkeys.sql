-- +goose Up
-- Passkeys (WebAuthn credentials) of accounts. credential_id is the
-- authenticator's credential id (base64url, unique across accounts: an id
-- names one key pair); credential is the verified registration as
-- go-webauthn's Credential record (JSON: public key, flags, authenticator
-- data). sign_count is kept apart so a sign-in can raise it with one
-- conditional UPDATE, refusing a counter that went backwards even under
-- races.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    credential_id TEXT NOT NULL,
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,
    sign_count    INTEGER NOT NULL DEFAULT 0,
    created_at    DATETIME NOT NULL,
    last_used_at  DATETIME
);
CREATE UNIQUE INDEX passkeys_credential ON passkeys (credential_id);
CREATE INDEX passkeys_user ON passkeys (user_id, id);

-- The server half of a WebAuthn ceremony between its begin and finish
-- calls (the challenge and what it was bound to), kept in the database so
-- that any node can finish what another began. A row is deleted by the
-- finish that uses it (single use) and is void after expires_at.
-- kind is 'register' (user_id set) or 'login' (user_id NULL for a
-- passwordless sign-in by a discoverable credential).
CREATE TABLE webauthn_ceremonies (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('register','login')),
    user_id      TEXT REFERENCES users (id),
    session_data TEXT NOT NULL,
    created_at   DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);

-- +goose Down
DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
