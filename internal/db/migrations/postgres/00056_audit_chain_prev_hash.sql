-- +goose Up
-- Each chain's head keeps the hash it had before its last append, so on
-- PostgreSQL one statement moves the head, hashes the new row and hands
-- the row its link to the previous one (internal/audit/chains.go).
ALTER TABLE audit_chains ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
UPDATE audit_chains SET prev_hash = COALESCE((SELECT l.hash FROM audit_logs l
    WHERE l.chain_id = audit_chains.chain_id AND l.chain_seq = audit_chains.seq - 1), '');

-- +goose Down
ALTER TABLE audit_chains DROP COLUMN prev_hash;
