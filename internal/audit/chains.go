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
	if err := tx.QueryRowContext(ctx, `INSERT INTO audit_chains (chain_id, seq, hash) VALUES ($1, 1, '')
		ON CONFLICT (chain_id) DO UPDATE SET seq = audit_chains.seq + 1
		RETURNING seq, hash`, r.ChainID).Scan(&r.ChainSeq, &r.PrevHash); err != nil {
		return fmt.Errorf("advance chain: %w", err)
	}
	r.Hash = r.computeHash()
	const insert = `INSERT INTO audit_logs
		(id, seq, chain_id, chain_seq, user_id, organization_id, impersonator_id, action, resource, resource_id,
		 status, ip_address, user_agent, request_id, metadata, created_at, prev_hash, hash)
		VALUES ($1, %s, $2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) RETURNING seq`
	args := []any{r.ID, r.ChainID, r.ChainSeq, nullable(r.UserID), nullable(r.OrganizationID), nullable(r.ImpersonatorID),
		r.Action, r.Resource, nullable(r.ResourceID), r.Status, r.IPAddress, r.UserAgent,
		r.RequestID, string(r.Metadata), r.CreatedAt, r.PrevHash, r.Hash}
	var err error
	if tx.Dialect == db.Postgres {
		// Moving the head and inserting the row in one statement saves a
		// round trip per audited write.
		err = tx.QueryRowContext(ctx, `WITH head AS (UPDATE audit_chains SET hash = $17 WHERE chain_id = $2)
			`+fmt.Sprintf(insert, `nextval('audit_logs_seq_seq')`), args...).Scan(&r.Seq)
	} else {
		if _, err := tx.ExecContext(ctx, `UPDATE audit_chains SET hash = $1 WHERE chain_id = $2`, r.Hash, r.ChainID); err != nil {
			return fmt.Errorf("advance chain: %w", err)
		}
		err = tx.QueryRowContext(ctx, fmt.Sprintf(insert, `(SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_logs)`), args...).Scan(&r.Seq)
	}
	if err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	return nil
}
