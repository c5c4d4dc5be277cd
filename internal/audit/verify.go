package audit

import (
	"context"
	"fmt"

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
	Reason string `json:"reason,omitempty"`
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
				return res, nil
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
		return res, nil
	}
	res.OK = true
	return res, nil
}
