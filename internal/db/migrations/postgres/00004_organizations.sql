-- +goose Up
-- Organizations are workspaces shared by their members. A user may belong to
-- several; memberships holds every membership, and users.organization_id /
-- org_role / department_id mirror the primary one (the first joined) for
-- readers that want a single answer.
CREATE TABLE organizations (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    plan               TEXT NOT NULL DEFAULT 'FREE'
        CHECK (plan IN ('FREE','STARTER','PRO','BUSINESS','ENTERPRISE')),
    stripe_customer_id TEXT,
    created_by         TEXT NOT NULL REFERENCES users (id),
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    deleted_at         TIMESTAMPTZ
);
CREATE UNIQUE INDEX organizations_stripe_customer ON organizations (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL;

CREATE TABLE departments (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX departments_name ON departments (organization_id, lower(name));

CREATE TABLE memberships (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    user_id         TEXT NOT NULL REFERENCES users (id),
    org_role        TEXT NOT NULL CHECK (org_role IN ('ORG_OWNER','ORG_ADMIN','DEPT_MANAGER','ORG_MEMBER')),
    department_id   TEXT REFERENCES departments (id),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);
CREATE INDEX memberships_department ON memberships (department_id);

CREATE TABLE invitations (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    email           TEXT NOT NULL,
    org_role        TEXT NOT NULL CHECK (org_role IN ('ORG_OWNER','ORG_ADMIN','DEPT_MANAGER','ORG_MEMBER')),
    department_id   TEXT REFERENCES departments (id),
    token_hash      TEXT NOT NULL UNIQUE,
    invited_by      TEXT NOT NULL REFERENCES users (id),
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    accepted_at     TIMESTAMPTZ,
    accepted_by     TEXT REFERENCES users (id),
    revoked_at      TIMESTAMPTZ
);
-- One pending invitation per address and organization: re-inviting replaces it.
CREATE UNIQUE INDEX invitations_pending ON invitations (organization_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- The organization context a session acts in, so a refreshed token keeps it.
ALTER TABLE sessions ADD COLUMN organization_id TEXT;

-- +goose Down
ALTER TABLE sessions DROP COLUMN organization_id;
DROP TABLE invitations;
DROP TABLE memberships;
DROP TABLE departments;
DROP TABLE organizations;
