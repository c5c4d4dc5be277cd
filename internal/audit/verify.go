package audit

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/db"
)

// VerifyResult reports the outcome of walking the chain.
type VerifyResult struct {
	Checked int64 `json:"checked"`
	// OK is true when every row fits the chain and the head.
	OK bool `json:"ok"`
	// BadSeq and BadID name the first row that does not fit.
	BadSeq int64  `json:"badSeq,omitempty"`
	BadID  string `json:"badId,omitempty"`
	// FirstBrokenID is BadID under the name the dashboard reads.
	FirstBrokenID string `json:"firstBrokenId,omitempty"`
	Reason        string `json:"reason,omitempty"`
	// VerifiedAt is when the walk finished.
	VerifiedAt time.Time `json:"verifiedAt"`
}

func (r VerifyResult) done() VerifyResult {
	r.FirstBrokenID = r.BadID
	r.VerifiedAt = db.Now()
	return r
}

// Verify walks the whole log in order and checks each row's hash, its link
// to the previous row, that no sequence number is missing, and that the
// chain ends at the stored head.
func Verify(ctx context.Context, q db.Querier) (VerifyResult, error) {
	const batch = 1000
	var res VerifyResult
	prevHash := ""
	var prevSeq int64
	for {
		rows, err := q.QueryContext(ctx, `SELECT `+columns+` FROM audit_logs WHERE seq > $1 ORDER BY seq LIMIT $2`, prevSeq, batch)
		if err != nil {
			return res, fmt.Errorf("verify audit: %w", err)
		}
		n := 0
		for rows.Next() {
			r, err := scanRow(rows)
			if err != nil {
				rows.Close()
				return res, err
			}
			n++
			reason := ""
			switch {
			case r.Seq != prevSeq+1:
				reason = fmt.Sprintf("rows %d to %d are missing", prevSeq+1, r.Seq-1)
			case r.PrevHash != prevHash:
				reason = "previous-hash link does not match the row before it"
			case r.computeHash() != r.Hash:
				reason = "content does not match its hash (the row was edited)"
			}
			if reason != "" {
				rows.Close()
				res.BadSeq, res.BadID, res.Reason = r.Seq, r.ID, reason
				return res.done(), nil
			}
			res.Checked++
			prevSeq, prevHash = r.Seq, r.Hash
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, fmt.Errorf("verify audit: %w", err)
		}
		if n < batch {
			break
		}
	}
	var headSeq int64
	var headHash string
	if err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&headSeq, &headHash); err != nil {
		return res, fmt.Errorf("verify audit head: %w", err)
	}
	if headSeq != prevSeq || headHash != prevHash {
		res.BadSeq = prevSeq + 1
		res.Reason = fmt.Sprintf("the log ends at row %d but the chain head says %d: rows were removed from the end", prevSeq, headSeq)
		return res.done(), nil
	}
	res.OK = true
	return res.done(), nil
}

// Scope names the rows a scoped verification covers: one user's or one
// organization's (exactly one field set).
type Scope struct {
	UserID         string
	OrganizationID string
}

// VerifyScope checks the rows of one scope without walking the whole log.
// The chain is global (one sequence for every scope), so for each row of
// the scope it checks that its content matches its hash, that its
// previous-hash link matches the row just before it in the global chain,
// and that the row just after it (or the chain head, for the newest row)
// links back to it. An edit to any row of the scope, or the removal of a
// row next to one, is found; a removed row whose neighbours both belong to
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
	var headSeq int64
	var headHash string
	if err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&headSeq, &headHash); err != nil {
		return VerifyResult{}, fmt.Errorf("verify audit head: %w", err)
	}
	var res VerifyResult
	var after int64
	for {
		// Rows past the head read at the start were appended during the
		// walk; they are left for the next verification.
		rows, err := q.QueryContext(ctx, `SELECT `+scopedColumns+`, p.hash, n.prev_hash
			FROM audit_logs a
			LEFT JOIN audit_logs p ON p.seq = a.seq - 1
			LEFT JOIN audit_logs n ON n.seq = a.seq + 1
			WHERE a.`+col+` = $1 AND a.seq > $2 AND a.seq <= $3 ORDER BY a.seq LIMIT $4`, val, after, headSeq, batch)
		if err != nil {
			return res, fmt.Errorf("verify audit: %w", err)
		}
		n := 0
		for rows.Next() {
			var prev, next sql.NullString
			r, err := scanRowPlus(rows, &prev, &next)
			if err != nil {
				rows.Close()
				return res, err
			}
			n++
			reason := ""
			switch {
			case r.computeHash() != r.Hash:
				reason = "content does not match its hash (the row was edited)"
			case r.Seq > 1 && !prev.Valid:
				reason = fmt.Sprintf("row %d, just before it, is missing", r.Seq-1)
			case r.Seq > 1 && prev.String != r.PrevHash, r.Seq == 1 && r.PrevHash != "":
				reason = "previous-hash link does not match the row before it"
			case r.Seq == headSeq && r.Hash != headHash:
				reason = "the chain head does not end at this row"
			case r.Seq < headSeq && !next.Valid:
				reason = fmt.Sprintf("row %d, just after it, is missing", r.Seq+1)
			case r.Seq < headSeq && next.String != r.Hash:
				reason = "the row after it does not link to it"
			}
			if reason != "" {
				rows.Close()
				res.BadSeq, res.BadID, res.Reason = r.Seq, r.ID, reason
				return res.done(), nil
			}
			res.Checked++
			after = r.Seq
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

const scopedColumns = `a.id, a.seq, a.user_id, a.organization_id, a.impersonator_id, a.action, a.resource, a.resource_id,
	a.status, a.ip_address, a.user_agent, a.request_id, a.metadata, a.created_at, a.prev_hash, a.hash`
