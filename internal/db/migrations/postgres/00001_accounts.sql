-- +goose Up
CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    email                TEXT NOT NULL,
    name                 TEXT NOT NULL DEFAULT '',
    password_hash        TEXT NOT NULL,
    role                 TEXT NOT NULL DEFAULT 'USER'
        CHECK (role IN ('SUPER_ADMIN','ADMIN','MODERATOR','DEVELOPER','USER')),
    organization_id      TEXT,
    department_id        TEXT,
    org_role             TEXT CHECK (org_role IS NULL OR org_role IN ('ORG_OWNER','ORG_ADMIN','DEPT_MANAGER','ORG_MEMBER')),
    plan                 TEXT NOT NULL DEFAULT 'FREE'
        CHECK (plan IN ('FREE','STARTER','PRO','BUSINESS','ENTERPRISE')),
    stripe_customer_id   TEXT,
    is_active            BOOLEAN NOT NULL DEFAULT TRUE,
    email_verified_at    TIMESTAMPTZ,
    failed_login_count   INTEGER NOT NULL DEFAULT 0,
    lockout_count        INTEGER NOT NULL DEFAULT 0,
    locked_until         TIMESTAMPTZ,
    last_password_change TIMESTAMPTZ NOT NULL,
    last_login_at        TIMESTAMPTZ,
    deleted_at           TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
-- A soft-deleted account frees its email for a new sign-up.
CREATE UNIQUE INDEX users_email_live ON users (lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX users_email ON users (lower(email));
CREATE INDEX users_role ON users (role);
CREATE INDEX users_plan ON users (plan);
CREATE INDEX users_organization ON users (organization_id);
CREATE INDEX users_department ON users (department_id);
CREATE UNIQUE INDEX users_stripe_customer ON users (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL;
CREATE INDEX users_created ON users (created_at);
CREATE INDEX users_deleted ON users (deleted_at);

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    impersonator_id TEXT REFERENCES users (id),
    ip              TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ,
    revoked_reason  TEXT
);
CREATE INDEX sessions_user ON sessions (user_id, revoked_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE password_reset_tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX password_reset_tokens_user ON password_reset_tokens (user_id);

CREATE TABLE email_verification_tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    email      TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX email_verification_tokens_user ON email_verification_tokens (user_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_keys_user ON api_keys (user_id, revoked_at);

CREATE TABLE rate_limits (
    key          TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);

-- +goose Down
DROP TABLE rate_limits;
DROP TABLE api_keys;
DROP TABLE email_verification_tokens;
DROP TABLE password_reset_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
