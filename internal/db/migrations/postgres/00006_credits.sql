-- +goose Up
-- Credits: one balance per workspace and an append-only ledger. Amounts are
-- integers in millicredits (1 credit = 1000). The ledger is the truth: for
-- every workspace, balance = SUM(credit_transactions.amount) and balance >= 0.
-- reserved is the part of the balance held by open reservations; it never
-- exceeds the balance, so what can be spent is balance - reserved.
CREATE TABLE credit_balances (
    workspace_id TEXT PRIMARY KEY,
    balance      BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    reserved     BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= balance),
    lifetime     BIGINT NOT NULL DEFAULT 0,
    settings     JSON NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE credit_transactions (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    type            TEXT NOT NULL CHECK (type IN ('purchase','usage','refund','bonus','grant')),
    amount          BIGINT NOT NULL CHECK (amount <> 0),
    balance_after   BIGINT NOT NULL CHECK (balance_after >= 0),
    description     TEXT NOT NULL DEFAULT '',
    metadata        JSON NOT NULL DEFAULT '{}',
    idempotency_key TEXT NOT NULL,
    -- reverses_id names the row a refund reverses.
    reverses_id     TEXT,
    created_at      TIMESTAMPTZ NOT NULL
);
-- A charge, purchase or grant happens once per key and workspace.
CREATE UNIQUE INDEX credit_transactions_key ON credit_transactions (workspace_id, idempotency_key);
-- ids are time-sortable: newest first by id is newest first by time.
CREATE INDEX credit_transactions_list ON credit_transactions (workspace_id, id);
CREATE INDEX credit_transactions_reverses ON credit_transactions (workspace_id, reverses_id) WHERE reverses_id IS NOT NULL;

-- Holds on the balance for work whose cost is known only afterwards.
CREATE TABLE credit_reservations (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    status          TEXT NOT NULL CHECK (status IN ('open','settled','released')),
    idempotency_key TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    transaction_id  TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    closed_at       TIMESTAMPTZ
);
CREATE UNIQUE INDEX credit_reservations_key ON credit_reservations (workspace_id, idempotency_key);
CREATE INDEX credit_reservations_open ON credit_reservations (expires_at) WHERE status = 'open';

-- Usage counters: one row per workspace, metric and period ('2026-01-02'
-- for a UTC day, '2026-01' for a month, 'current' for gauges such as storage).
CREATE TABLE usage_counters (
    workspace_id TEXT NOT NULL,
    metric       TEXT NOT NULL,
    period       TEXT NOT NULL,
    used         BIGINT NOT NULL DEFAULT 0,
    overage      BIGINT NOT NULL DEFAULT 0,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, metric, period)
);

-- Every Stripe event applied, stored in the transaction of its effect: an
-- event id seen here is never applied again.
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    workspace_id TEXT,
    created      BIGINT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL
);

-- Payments that bought credits, so a refund can take back its share.
CREATE TABLE billing_payments (
    payment_intent_id TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL,
    transaction_id    TEXT NOT NULL,
    credits           BIGINT NOT NULL,
    amount_cents      BIGINT NOT NULL,
    refunded_cents    BIGINT NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX billing_payments_workspace ON billing_payments (workspace_id);

-- The subscription a workspace's plan follows, with the creation time of the
-- newest event applied, so an older event delivered late changes nothing.
CREATE TABLE billing_subscriptions (
    workspace_id    TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    status          TEXT NOT NULL,
    plan            TEXT NOT NULL,
    event_created   BIGINT NOT NULL,
    event_id        TEXT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX billing_subscriptions_sub ON billing_subscriptions (subscription_id);

-- +goose Down
DROP TABLE billing_subscriptions;
DROP TABLE billing_payments;
DROP TABLE stripe_events;
DROP TABLE usage_counters;
DROP TABLE credit_reservations;
DROP TABLE credit_transactions;
DROP TABLE credit_balances;
