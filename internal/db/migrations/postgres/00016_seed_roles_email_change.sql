-- +goose Up
-- The seed's platform roles (§1.1): MODERATOR becomes SUPPORT and USER
-- becomes MEMBER, in stored rows, the default and the constraint.
ALTER TABLE users DROP CONSTRAINT users_role_check;
UPDATE users SET role = CASE role WHEN 'MODERATOR' THEN 'SUPPORT' WHEN 'USER' THEN 'MEMBER' ELSE role END
WHERE role IN ('MODERATOR', 'USER');
ALTER TABLE users ALTER COLUMN role SET DEFAULT 'MEMBER';
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('SUPER_ADMIN','ADMIN','DEVELOPER','SUPPORT','MEMBER'));

-- Flag targeting lists name roles too.
UPDATE feature_flags SET roles = replace(replace(roles::text, '"MODERATOR"', '"SUPPORT"'), '"USER"', '"MEMBER"')::json
WHERE roles::text LIKE '%"MODERATOR"%' OR roles::text LIKE '%"USER"%';
-- Every node reloads its flag cache when the version moves.
UPDATE flag_state SET version = version + 1 WHERE id = 1;

-- Signing an admin out everywhere also ends the sessions in which they
-- impersonate someone.
CREATE INDEX sessions_impersonator ON sessions (impersonator_id) WHERE impersonator_id IS NOT NULL;

-- A change of email address waits for the new address to confirm it (24 h),
-- and the old address can revert it (7 days), which also secures the
-- account. The tokens of a change are kept hashed, like reset tokens.
CREATE TABLE email_changes (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    old_email    TEXT NOT NULL,
    new_email    TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    confirmed_at TIMESTAMPTZ,
    -- reverted by the old address, or superseded by a newer request.
    reverted_at  TIMESTAMPTZ,
    cancelled_at TIMESTAMPTZ
);
CREATE INDEX email_changes_user ON email_changes (user_id);
CREATE INDEX email_changes_old_email ON email_changes (lower(old_email), confirmed_at);

CREATE TABLE email_change_tokens (
    token_hash TEXT PRIMARY KEY,
    change_id  TEXT NOT NULL REFERENCES email_changes (id),
    purpose    TEXT NOT NULL CHECK (purpose IN ('confirm','revert')),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX email_change_tokens_change ON email_change_tokens (change_id);

-- +goose Down
DROP INDEX sessions_impersonator;
DROP TABLE email_change_tokens;
DROP TABLE email_changes;
UPDATE feature_flags SET roles = replace(replace(roles::text, '"SUPPORT"', '"MODERATOR"'), '"MEMBER"', '"USER"')::json
WHERE roles::text LIKE '%"SUPPORT"%' OR roles::text LIKE '%"MEMBER"%';
UPDATE flag_state SET version = version + 1 WHERE id = 1;
ALTER TABLE users DROP CONSTRAINT users_role_check;
UPDATE users SET role = CASE role WHEN 'SUPPORT' THEN 'MODERATOR' WHEN 'MEMBER' THEN 'USER' ELSE role END
WHERE role IN ('SUPPORT', 'MEMBER');
ALTER TABLE users ALTER COLUMN role SET DEFAULT 'USER';
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('SUPER_ADMIN','ADMIN','MODERATOR','DEVELOPER','USER'));
