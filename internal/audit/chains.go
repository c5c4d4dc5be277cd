package audit

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/internal/db"
)

// Chain ids that are not workspaces.
const (
	// PlatformChain holds events that belong to no workspace: admin
	// requests, and events with neither a user nor an organization.
	PlatformChain = "platform"
	// LegacyChain is the single global chain written before chains were
	// per workspace; it is closed (nothing is appended to it) and verifies
	// as it always did.
	LegacyChain = "legacy"
)

// chainOf names the chain an event goes to: its workspace (the
// organization, else the user's personal workspace), or the platform's.
func chainOf(userID, orgID string, platform bool) string {
	switch {
	case platform:
		return PlatformChain
	case orgID != "":
		return orgID
	case userID != "":
		return userID
	}
	return PlatformChain
}

// appendToChain gives r the next position in its chain, links it to the
// chain's head, and inserts it. Only the chain's own head row is locked,
// so appends to different chains never wait on each other (on PostgreSQL;
// SQLite has one writer anyway). The global seq, which orders listings,
// comes from a sequence on PostgreSQL, which waits for no transaction, and
// from the table's end under SQLite's writer lock.
func appendToChain(ctx context.Context, tx *db.Tx, r *Row) error {
	if tx.Dialect == db.Postgres {
		return appendToChainPostgres(ctx, tx, r)
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO audit_chains (chain_id, seq, hash) VALUES ($1, 1, '')
		ON CONFLICT (chain_id) DO UPDATE SET seq = audit_chains.seq + 1
		RETURNING seq, hash`, r.ChainID).Scan(&r.ChainSeq, &r.PrevHash); err != nil {
		return fmt.Errorf("advance chain: %w", err)
	}
	r.Hash = r.computeHash()
	if _, err := tx.ExecContext(ctx, `UPDATE audit_chains SET prev_hash = hash, hash = $1 WHERE chain_id = $2`, r.Hash, r.ChainID); err != nil {
		return fmt.Errorf("advance chain: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO audit_logs
		(id, seq, chain_id, chain_seq, user_id, organization_id, impersonator_id, action, resource, resource_id,
		 status, ip_address, user_agent, request_id, metadata, created_at, prev_hash, hash)
		VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_logs), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		RETURNING seq`,
		r.ID, r.ChainID, r.ChainSeq, nullable(r.UserID), nullable(r.OrganizationID), nullable(r.ImpersonatorID),
		r.Action, r.Resource, nullable(r.ResourceID), r.Status, r.IPAddress, r.UserAgent,
		r.RequestID, string(r.Metadata), r.CreatedAt, r.PrevHash, r.Hash).Scan(&r.Seq); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	return nil
}

// linkSQL is linkField over the head row c as it was before the append:
// the previous hash and the new position, each length-prefixed.
const linkSQL = `convert_to(octet_length(c.hash)::text || ':' || c.hash || '|' ||
	octet_length((c.seq + 1)::text)::text || ':' || (c.seq + 1)::text || '|', 'UTF8')`

// appendToChainPostgres appends in one statement, one round trip: the
// head moves to the next position and computes the row's hash from its
// own previous hash (hashParts around linkSQL; sha256 is built into
// PostgreSQL), keeps that previous hash as the row's link (prev_hash), and
// the row is inserted with both. The head's row lock orders appends to one
// chain as before. A new chain's first row, with no previous hash, is
// hashed in Go ($15).
func appendToChainPostgres(ctx context.Context, tx *db.Tx, r *Row) error {
	before, after := r.hashParts()
	err := tx.QueryRowContext(ctx, `WITH head AS (
			INSERT INTO audit_chains AS c (chain_id, seq, hash, prev_hash) VALUES ($2, 1, $15, '')
			ON CONFLICT (chain_id) DO UPDATE SET seq = c.seq + 1, prev_hash = c.hash,
				hash = encode(sha256($16::bytea || `+linkSQL+` || $17::bytea), 'hex')
			RETURNING seq, prev_hash, hash)
		INSERT INTO audit_logs
		(id, seq, chain_id, chain_seq, user_id, organization_id, impersonator_id, action, resource, resource_id,
		 status, ip_address, user_agent, request_id, metadata, created_at, prev_hash, hash)
		SELECT $1, nextval('audit_logs_seq_seq'), $2, head.seq, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
			head.prev_hash, head.hash FROM head
		RETURNING seq, chain_seq, prev_hash, hash`,
		r.ID, r.ChainID, nullable(r.UserID), nullable(r.OrganizationID), nullable(r.ImpersonatorID),
		r.Action, r.Resource, nullable(r.ResourceID), r.Status, r.IPAddress, r.UserAgent,
		r.RequestID, string(r.Metadata), r.CreatedAt, hashOf(before, linkField("", 1), after), before, after).Scan(&r.Seq, &r.ChainSeq, &r.PrevHash, &r.Hash)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	return nil
}
