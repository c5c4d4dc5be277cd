-- +goose Up
-- A session re-authenticates (password or second factor) for sensitive
-- actions; it counts for five minutes after reauth_at. Sign-in sets it.
ALTER TABLE sessions ADD COLUMN reauth_at DATETIME;

-- An organization may require every member to have a second factor.
ALTER TABLE organizations ADD COLUMN require_2fa INTEGER NOT NULL DEFAULT 0;

-- One TOTP factor per account. The secret is sealed (AES-GCM, key id
-- beside it, so keys rotate); workspace_id is the user id, the owner the
-- key rotation scopes its writes to. confirmed_at is NULL while enrollment
-- waits for a first code. last_step is the last accepted time step: a code
-- is accepted only for a later step, so it never works twice.
CREATE TABLE totp_factors (
    id            TEXT PRIMARY KEY REFERENCES users (id),
    workspace_id  TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    secret_key_id TEXT NOT NULL,
    last_step     BIGINT NOT NULL DEFAULT 0,
    confirmed_at  DATETIME,
    created_at    DATETIME NOT NULL
);

-- Single-use recovery codes, stored as salted SHA-256 hashes.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id),
    code_hash  TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    used_at    DATETIME,
    PRIMARY KEY (user_id, code_hash)
);

-- A password sign-in waiting for its second factor: a single-use token
-- (only its hash is kept) that lives five minutes.
CREATE TABLE mfa_challenges (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME
);
CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id);

-- +goose Down
DROP TABLE mfa_challenges;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
ALTER TABLE organizations DROP COLUMN require_2fa;
ALTER TABLE sessions DROP COLUMN reauth_at;
