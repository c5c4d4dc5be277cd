-- +goose Up
-- One hash chain per workspace (and one for platform events), so appends of
-- different workspaces never update the same row. Rows written before this
-- migration form the closed chain 'legacy': their seq is their position in
-- it, and they keep the hash they were written with.
ALTER TABLE audit_logs ADD COLUMN chain_id TEXT NOT NULL DEFAULT 'legacy';
ALTER TABLE audit_logs ADD COLUMN chain_seq INTEGER NOT NULL DEFAULT 0;
UPDATE audit_logs SET chain_seq = seq;
CREATE UNIQUE INDEX audit_logs_chain ON audit_logs (chain_id, chain_seq);

-- The head of each chain: its last seq and hash.
CREATE TABLE audit_chains (
    chain_id TEXT PRIMARY KEY,
    seq      INTEGER NOT NULL,
    hash     TEXT NOT NULL
);
INSERT INTO audit_chains (chain_id, seq, hash) SELECT 'legacy', seq, hash FROM audit_head WHERE seq > 0;
DROP TABLE audit_head;

-- Signed checkpoints: a chain's head at one moment, signed with a key that
-- is not in the database. One per chain and seq, so two nodes signing the
-- same head at once cannot both store theirs.
CREATE TABLE audit_checkpoints (
    chain_id  TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    signed_at DATETIME NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (chain_id, seq)
);

-- +goose Down
-- Rows written to per-workspace chains do not fit the single chain: an
-- older version's verify reports the first of them.
DROP TABLE audit_checkpoints;
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
    SELECT 1, COALESCE((SELECT MAX(seq) FROM audit_logs), 0),
           COALESCE((SELECT hash FROM audit_logs ORDER BY seq DESC LIMIT 1), '');
DROP TABLE audit_chains;
DROP INDEX audit_logs_chain;
ALTER TABLE audit_logs DROP COLUMN chain_seq;
ALTER TABLE audit_logs DROP COLUMN chain_id;
