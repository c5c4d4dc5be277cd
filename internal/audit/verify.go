package audit

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/db"
)

// VerifyResult reports the outcome of walking the chains.
type VerifyResult struct {
	Checked int64 `json:"checked"`
	// OK is true when every row fits its chain and the chain's head, and
	// every checkpoint verifies and matches its chain.
	OK bool `json:"ok"`
	// BadSeq and BadID name the first row that does not fit; BadSeq is
	// its position in chain BadChain.
	BadSeq int64  `json:"badSeq,omitempty"`
	BadID  string `json:"badId,omitempty"`
	// FirstBrokenID is BadID under the name the dashboard reads.
	FirstBrokenID string `json:"firstBrokenId,omitempty"`
	Reason        string `json:"reason,omitempty"`
	// BadChain is the chain of the first problem; BadCheckpoint the signed
	// checkpoint it contradicts, when one does.
	BadChain      string      `json:"badChain,omitempty"`
	BadCheckpoint *Checkpoint `json:"badCheckpoint,omitempty"`
	// Chains and Checkpoints count what was checked. Unsealed counts rows
	// newer than their chain's last checkpoint: until the next sweep signs
	// them, only their hashes protect them.
	Chains      int   `json:"chains"`
	Checkpoints int64 `json:"checkpoints"`
	Unsealed    int64 `json:"unsealed"`
	// SignaturesChecked is false when no signing keys were at hand: the
	// checkpoints were then only compared with the rows.
	SignaturesChecked bool `json:"signaturesChecked"`
	// VerifiedAt is when the walk finished.
	VerifiedAt time.Time `json:"verifiedAt"`
}

func (r VerifyResult) done() VerifyResult {
	r.FirstBrokenID = r.BadID
	r.VerifiedAt = db.Now()
	return r
}

func (r *VerifyResult) fail(chain string, b badRow) VerifyResult {
	r.BadChain, r.BadSeq, r.BadID, r.Reason, r.BadCheckpoint = chain, b.seq, b.id, b.reason, b.cp
	return r.done()
}

// badRow is the first problem found in a chain.
type badRow struct {
	seq    int64
	id     string
	reason string
	cp     *Checkpoint
}

// Verify walks every chain in order and checks each row's hash, its link
// to the previous row of its chain, that no position is missing, and that
// the chain ends at its head; then that every checkpoint's signature
// verifies under keys (when keys is not nil) and that the row at the
// checkpoint's position has the hash the checkpoint signed. A rewrite that
// recomputed every hash after a checkpoint was signed is found there.
func Verify(ctx context.Context, q db.Querier, keys *SigningKeys) (VerifyResult, error) {
	res := VerifyResult{SignaturesChecked: keys != nil}
	type head struct {
		chain string
		seq   int64
		hash  string
	}
	var heads []head
	rows, err := q.QueryContext(ctx, `SELECT chain_id, seq, hash FROM audit_chains ORDER BY chain_id`)
	if err != nil {
		return res, fmt.Errorf("verify audit: %w", err)
	}
	for rows.Next() {
		var h head
		if err := rows.Scan(&h.chain, &h.seq, &h.hash); err != nil {
			rows.Close()
			return res, fmt.Errorf("verify audit: %w", err)
		}
		heads = append(heads, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("verify audit: %w", err)
	}
	for _, h := range heads {
		res.Chains++
		cps, err := chainCheckpoints(ctx, q, h.chain)
		if err != nil {
			return res, err
		}
		res.Checkpoints += int64(len(cps))
		for i := range cps {
			c := &cps[i]
			reason := ""
			if keys != nil {
				reason = c.checkSignature(keys)
			}
			if reason == "" && c.Seq > h.seq {
				reason = fmt.Sprintf("the chain ends at row %d but this checkpoint sealed it at row %d: rows were removed from the end", h.seq, c.Seq)
			}
			if reason != "" {
				return res.fail(h.chain, badRow{seq: c.Seq, reason: "checkpoint at row " + fmt.Sprint(c.Seq) + ": " + reason, cp: c}), nil
			}
		}
		bad, n, err := walkChainCounting(ctx, q, h.chain, 0, "", h.seq, cps)
		res.Checked += n
		if err != nil {
			return res, err
		}
		if bad == nil && h.seq > 0 {
			// The rows reach the head's position; the head must be the last
			// row's hash.
			var lastID, last string
			if err := q.QueryRowContext(ctx, `SELECT id, hash FROM audit_logs WHERE chain_id = $1 AND chain_seq = $2`, h.chain, h.seq).Scan(&lastID, &last); err != nil {
				return res, fmt.Errorf("verify audit chain %s: %w", h.chain, err)
			}
			if last != h.hash {
				bad = &badRow{seq: h.seq, id: lastID, reason: "the chain head does not end at this row"}
			}
		}
		if bad != nil {
			return res.fail(h.chain, *bad), nil
		}
		if len(cps) > 0 {
			res.Unsealed += h.seq - cps[len(cps)-1].Seq
		} else {
			res.Unsealed += h.seq
		}
	}
	// Rows outside every chain, and checkpoints of chains that are gone.
	var id, chain string
	var seq int64
	err = q.QueryRowContext(ctx, `SELECT a.id, a.chain_id, a.chain_seq FROM audit_logs a
		LEFT JOIN audit_chains c ON c.chain_id = a.chain_id
		WHERE c.chain_id IS NULL ORDER BY a.seq LIMIT 1`).Scan(&id, &chain, &seq)
	switch {
	case err == nil:
		return res.fail(chain, badRow{seq: seq, id: id, reason: "the row's chain has no head: the chain was removed or the row moved"}), nil
	case err != sql.ErrNoRows:
		return res, fmt.Errorf("verify audit: %w", err)
	}
	err = q.QueryRowContext(ctx, `SELECT k.chain_id, k.seq FROM audit_checkpoints k
		LEFT JOIN audit_chains c ON c.chain_id = k.chain_id
		WHERE c.chain_id IS NULL ORDER BY k.chain_id, k.seq LIMIT 1`).Scan(&chain, &seq)
	switch {
	case err == nil:
		return res.fail(chain, badRow{seq: seq, reason: fmt.Sprintf("a checkpoint seals this chain at row %d, but the chain is gone", seq)}), nil
	case err != sql.ErrNoRows:
		return res, fmt.Errorf("verify audit: %w", err)
	}
	res.OK = true
	return res.done(), nil
}

func chainCheckpoints(ctx context.Context, q db.Querier, chain string) ([]Checkpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT chain_id, seq, hash, signed_at, key_id, signature FROM audit_checkpoints
		WHERE chain_id = $1 ORDER BY seq`, chain)
	if err != nil {
		return nil, fmt.Errorf("verify audit checkpoints: %w", err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var c Checkpoint
		if err := rows.Scan(&c.ChainID, &c.Seq, &c.Hash, &c.SignedAt, &c.KeyID, &c.Signature); err != nil {
			return nil, fmt.Errorf("verify audit checkpoints: %w", err)
		}
		c.SignedAt = c.SignedAt.UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// walkChain checks chain's rows after position from (whose hash is
// fromHash) up to position to, whose hash must be toHash; see
// walkChainCounting.
func walkChain(ctx context.Context, q db.Querier, chain string, from int64, fromHash string, to int64, toHash string) (*badRow, error) {
	bad, _, err := walkChainCounting(ctx, q, chain, from, fromHash, to, []Checkpoint{{Seq: to, Hash: toHash}})
	if bad != nil && bad.cp != nil {
		bad.cp, bad.reason = nil, "the chain head does not end at this row"
	}
	return bad, err
}

// walkChainCounting checks each row's hash, its link to the row before it
// and that no position is missing, and that the row at each checkpoint's
// position (cps, by seq) has the hash the checkpoint signed. It returns
// the first problem (nil if none) and how many rows fit before it.
func walkChainCounting(ctx context.Context, q db.Querier, chain string, from int64, fromHash string, to int64, cps []Checkpoint) (*badRow, int64, error) {
	const batch = 1000
	prevSeq, prevHash := from, fromHash
	var checked int64
	ci := 0
	for ci < len(cps) && cps[ci].Seq <= from {
		ci++
	}
	lastSealed := from
	if ci > 0 {
		lastSealed = cps[ci-1].Seq
	}
	for prevSeq < to {
		rows, err := q.QueryContext(ctx, `SELECT `+columns+` FROM audit_logs
			WHERE chain_id = $1 AND chain_seq > $2 AND chain_seq <= $3 ORDER BY chain_seq LIMIT $4`, chain, prevSeq, to, batch)
		if err != nil {
			return nil, checked, fmt.Errorf("verify audit chain %s: %w", chain, err)
		}
		n := 0
		for rows.Next() {
			r, err := scanRow(rows)
			if err != nil {
				rows.Close()
				return nil, checked, err
			}
			n++
			reason := ""
			var cp *Checkpoint
			switch {
			case r.ChainSeq != prevSeq+1:
				reason = fmt.Sprintf("rows %d to %d of chain %s are missing", prevSeq+1, r.ChainSeq-1, chain)
			case r.PrevHash != prevHash:
				reason = "previous-hash link does not match the row before it"
			case r.computeHash() != r.Hash:
				reason = "content does not match its hash (the row was edited)"
			case ci < len(cps) && cps[ci].Seq == r.ChainSeq && cps[ci].Hash != r.Hash:
				cp = &cps[ci]
				reason = fmt.Sprintf("the row does not match checkpoint %d of chain %s (signed %s with key %s): rows %d to %d were rewritten after it was signed",
					cp.Seq, chain, cp.SignedAt.Format(time.RFC3339), cp.KeyID, lastSealed+1, cp.Seq)
			}
			if reason != "" {
				rows.Close()
				return &badRow{seq: r.ChainSeq, id: r.ID, reason: reason, cp: cp}, checked, nil
			}
			if ci < len(cps) && cps[ci].Seq == r.ChainSeq {
				lastSealed = r.ChainSeq
				ci++
			}
			checked++
			prevSeq, prevHash = r.ChainSeq, r.Hash
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, checked, fmt.Errorf("verify audit chain %s: %w", chain, err)
		}
		if n == 0 {
			break
		}
	}
	if prevSeq < to {
		return &badRow{seq: prevSeq + 1, reason: fmt.Sprintf("chain %s ends at row %d but its head says %d: rows were removed from the end", chain, prevSeq, to)}, checked, nil
	}
	return nil, checked, nil
}

// Scope names the rows a scoped verification covers: one user's or one
// organization's (exactly one field set).
type Scope struct {
	UserID         string
	OrganizationID string
}

// VerifyScope checks the rows of one scope without walking every chain.
// For each row of the scope it checks that its content matches its hash,
// that its previous-hash link matches the row just before it in its chain,
// that the row just after it (or the chain's head, for the newest row)
// links back to it, and that a checkpoint signed at its position, if any,
// signed its hash. An edit to any row of the scope, or the removal of a row
// next to one, is found; a removed row whose neighbours both belong to
// other scopes is found only by the full Verify.
func VerifyScope(ctx context.Context, q db.Querier, sc Scope) (VerifyResult, error) {
	const batch = 500
	col, val := "user_id", sc.UserID
	if sc.OrganizationID != "" {
		col, val = "organization_id", sc.OrganizationID
	}
	if val == "" {
		return VerifyResult{}, fmt.Errorf("verify audit scope: empty scope")
	}
	var res VerifyResult
	var after int64
	for {
		rows, err := q.QueryContext(ctx, `SELECT `+scopedColumns+`, p.hash, n.prev_hash, COALESCE(h.seq, -1), COALESCE(h.hash, ''), k.hash
			FROM audit_logs a
			LEFT JOIN audit_chains h ON h.chain_id = a.chain_id
			LEFT JOIN audit_logs p ON p.chain_id = a.chain_id AND p.chain_seq = a.chain_seq - 1
			LEFT JOIN audit_logs n ON n.chain_id = a.chain_id AND n.chain_seq = a.chain_seq + 1
			LEFT JOIN audit_checkpoints k ON k.chain_id = a.chain_id AND k.seq = a.chain_seq
			WHERE a.`+col+` = $1 AND a.seq > $2 ORDER BY a.seq LIMIT $3`, val, after, batch)
		if err != nil {
			return res, fmt.Errorf("verify audit: %w", err)
		}
		n := 0
		for rows.Next() {
			var prev, next, sealed sql.NullString
			var headSeq int64
			var headHash string
			r, err := scanRowPlus(rows, &prev, &next, &headSeq, &headHash, &sealed)
			if err != nil {
				rows.Close()
				return res, err
			}
			n++
			after = r.Seq
			if headSeq < 0 {
				rows.Close()
				res.BadChain, res.BadSeq, res.BadID, res.Reason = r.ChainID, r.ChainSeq, r.ID, "the row's chain has no head: the chain was removed or the row moved"
				return res.done(), nil
			}
			if r.ChainSeq > headSeq {
				// Appended after the head was read; the next check covers it.
				continue
			}
			reason := ""
			switch {
			case r.computeHash() != r.Hash:
				reason = "content does not match its hash (the row was edited)"
			case r.ChainSeq > 1 && !prev.Valid:
				reason = fmt.Sprintf("row %d of chain %s, just before it, is missing", r.ChainSeq-1, r.ChainID)
			case r.ChainSeq > 1 && prev.String != r.PrevHash, r.ChainSeq == 1 && r.PrevHash != "":
				reason = "previous-hash link does not match the row before it"
			case r.ChainSeq == headSeq && r.Hash != headHash:
				reason = "the chain head does not end at this row"
			case r.ChainSeq < headSeq && !next.Valid:
				reason = fmt.Sprintf("row %d of chain %s, just after it, is missing", r.ChainSeq+1, r.ChainID)
			case r.ChainSeq < headSeq && next.String != r.Hash:
				reason = "the row after it does not link to it"
			case sealed.Valid && sealed.String != r.Hash:
				reason = "the row does not match the checkpoint signed at its position: it was rewritten after it was signed"
			}
			if reason != "" {
				rows.Close()
				res.BadChain, res.BadSeq, res.BadID, res.Reason = r.ChainID, r.ChainSeq, r.ID, reason
				return res.done(), nil
			}
			res.Checked++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, fmt.Errorf("verify audit: %w", err)
		}
		if n < batch {
			break
		}
	}
	res.OK = true
	return res.done(), nil
}

const scopedColumns = `a.id, a.seq, a.chain_id, a.chain_seq, a.user_id, a.organization_id, a.impersonator_id, a.action, a.resource, a.resource_id,
	a.status, a.ip_address, a.user_agent, a.request_id, a.metadata, a.created_at, a.prev_hash, a.hash`
