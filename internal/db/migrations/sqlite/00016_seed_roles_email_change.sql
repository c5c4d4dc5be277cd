-- +goose Up
-- The seed's platform roles (§1.1): MODERATOR becomes SUPPORT and USER
-- becomes MEMBER. SQLite cannot change a CHECK constraint in place, so the
-- users table is rebuilt. Foreign keys stay on: with deferred checking, the
-- children of the dropped table are orphans only until the same rows are
-- inserted into its successor, before the transaction commits.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE users_old AS SELECT * FROM users;
DROP TABLE users;
CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    email                TEXT NOT NULL,
    name                 TEXT NOT NULL DEFAULT '',
    password_hash        TEXT NOT NULL,
    role                 TEXT NOT NULL DEFAULT 'MEMBER'
        CHECK (role IN ('SUPER_ADMIN','ADMIN','DEVELOPER','SUPPORT','MEMBER')),
    organization_id      TEXT,
    department_id        TEXT,
    org_role             TEXT CHECK (org_role IS NULL OR org_role IN ('ORG_OWNER','ORG_ADMIN','DEPT_MANAGER','ORG_MEMBER')),
    plan                 TEXT NOT NULL DEFAULT 'FREE'
        CHECK (plan IN ('FREE','STARTER','PRO','BUSINESS','ENTERPRISE')),
    stripe_customer_id   TEXT,
    is_active            INTEGER NOT NULL DEFAULT 1,
    email_verified_at    DATETIME,
    failed_login_count   INTEGER NOT NULL DEFAULT 0,
    lockout_count        INTEGER NOT NULL DEFAULT 0,
    locked_until         DATETIME,
    last_password_change DATETIME NOT NULL,
    last_login_at        DATETIME,
    deleted_at           DATETIME,
    created_at           DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL
);
INSERT INTO users (id, email, name, password_hash, role, organization_id, department_id, org_role, plan,
    stripe_customer_id, is_active, email_verified_at, failed_login_count, lockout_count, locked_until,
    last_password_change, last_login_at, deleted_at, created_at, updated_at)
SELECT id, email, name, password_hash,
    CASE role WHEN 'MODERATOR' THEN 'SUPPORT' WHEN 'USER' THEN 'MEMBER' ELSE role END,
    organization_id, department_id, org_role, plan,
    stripe_customer_id, is_active, email_verified_at, failed_login_count, lockout_count, locked_until,
    last_password_change, last_login_at, deleted_at, created_at, updated_at
FROM users_old;
DROP TABLE users_old;
CREATE UNIQUE INDEX users_email_live ON users (lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX users_email ON users (lower(email));
CREATE INDEX users_role ON users (role);
CREATE INDEX users_plan ON users (plan);
CREATE INDEX users_organization ON users (organization_id);
CREATE INDEX users_department ON users (department_id);
CREATE UNIQUE INDEX users_stripe_customer ON users (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL;
CREATE INDEX users_created ON users (created_at);
CREATE INDEX users_deleted ON users (deleted_at);

-- Flag targeting lists name roles too; they are JSON arrays kept as text.
UPDATE feature_flags SET roles = replace(replace(roles, '"MODERATOR"', '"SUPPORT"'), '"USER"', '"MEMBER"')
WHERE roles LIKE '%"MODERATOR"%' OR roles LIKE '%"USER"%';
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
    created_at   DATETIME NOT NULL,
    confirmed_at DATETIME,
    -- reverted by the old address, or superseded by a newer request.
    reverted_at  DATETIME,
    cancelled_at DATETIME
);
CREATE INDEX email_changes_user ON email_changes (user_id);
CREATE INDEX email_changes_old_email ON email_changes (lower(old_email), confirmed_at);

CREATE TABLE email_change_tokens (
    token_hash TEXT PRIMARY KEY,
    change_id  TEXT NOT NULL REFERENCES email_changes (id),
    purpose    TEXT NOT NULL CHECK (purpose IN ('confirm','revert')),
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME
);
CREATE INDEX email_change_tokens_change ON email_change_tokens (change_id);

-- +goose Down
DROP INDEX sessions_impersonator;
DROP TABLE email_change_tokens;
DROP TABLE email_changes;
UPDATE feature_flags SET roles = replace(replace(roles, '"SUPPORT"', '"MODERATOR"'), '"MEMBER"', '"USER"')
WHERE roles LIKE '%"SUPPORT"%' OR roles LIKE '%"MEMBER"%';
UPDATE flag_state SET version = version + 1 WHERE id = 1;
PRAGMA defer_foreign_keys = ON;
CREATE TABLE users_old AS SELECT * FROM users;
DROP TABLE users;
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
    is_active            INTEGER NOT NULL DEFAULT 1,
    email_verified_at    DATETIME,
    failed_login_count   INTEGER NOT NULL DEFAULT 0,
    lockout_count        INTEGER NOT NULL DEFAULT 0,
    locked_until         DATETIME,
    last_password_change DATETIME NOT NULL,
    last_login_at        DATETIME,
    deleted_at           DATETIME,
    created_at           DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL
);
INSERT INTO users (id, email, name, password_hash, role, organization_id, department_id, org_role, plan,
    stripe_customer_id, is_active, email_verified_at, failed_login_count, lockout_count, locked_until,
    last_password_change, last_login_at, deleted_at, created_at, updated_at)
SELECT id, email, name, password_hash,
    CASE role WHEN 'SUPPORT' THEN 'MODERATOR' WHEN 'MEMBER' THEN 'USER' ELSE role END,
    organization_id, department_id, org_role, plan,
    stripe_customer_id, is_active, email_verified_at, failed_login_count, lockout_count, locked_until,
    last_password_change, last_login_at, deleted_at, created_at, updated_at
FROM users_old;
DROP TABLE users_old;
CREATE UNIQUE INDEX users_email_live ON users (lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX users_email ON users (lower(email));
CREATE INDEX users_role ON users (role);
CREATE INDEX users_plan ON users (plan);
CREATE INDEX users_organization ON users (organization_id);
CREATE INDEX users_department ON users (department_id);
CREATE UNIQUE INDEX users_stripe_customer ON users (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL;
CREATE INDEX users_created ON users (created_at);
CREATE INDEX users_deleted ON users (deleted_at);
