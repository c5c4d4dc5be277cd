package credit_test

import (
	"context"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// anyWorkspace says every well-formed workspace id exists.
type anyWorkspace struct{}

func (anyWorkspace) WorkspaceExists(context.Context, db.Querier, string) (bool, error) {
	return true, nil
}

// member returns a MEMBER acting in a fresh personal workspace on plan p.
func member(p actor.Plan) actor.Actor {
	return actor.Actor{UserID: ids.New(ids.User), Role: actor.Member, Plan: p}
}

func fund(t testing.TB, s *credit.Service, ws string, amount int64) {
	t.Helper()
	if _, err := s.AddCredits(context.Background(), credit.SystemActor(ws), ws, credit.Change{Type: credit.Purchase, Amount: amount}); err != nil {
		t.Fatalf("fund %s: %v", ws, err)
	}
}

// checkInvariant asserts, straight in the database, that every workspace's
// balance equals the sum of its ledger and that nothing is negative or
// over-reserved.
func checkInvariant(t testing.TB, d *db.DB) {
	t.Helper()
	rows, err := d.Read().QueryContext(context.Background(), `SELECT b.workspace_id, b.balance, b.reserved,
		COALESCE((SELECT SUM(amount) FROM credit_transactions t WHERE t.workspace_id = b.workspace_id), 0),
		COALESCE((SELECT SUM(amount) FROM credit_reservations r WHERE r.workspace_id = b.workspace_id AND r.status = 'open'), 0),
		COALESCE((SELECT MIN(balance_after) FROM credit_transactions t WHERE t.workspace_id = b.workspace_id), 0)
		FROM credit_balances b`)
	if err != nil {
		t.Fatalf("invariant query: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ws string
		var bal, res, sum, open, minAfter int64
		if err := rows.Scan(&ws, &bal, &res, &sum, &open, &minAfter); err != nil {
			t.Fatalf("invariant scan: %v", err)
		}
		if bal != sum {
			t.Errorf("%s: balance %d != ledger sum %d", ws, bal, sum)
		}
		if bal < 0 || minAfter < 0 {
			t.Errorf("%s: negative balance %d (lowest balance_after %d)", ws, bal, minAfter)
		}
		if res != open || res > bal {
			t.Errorf("%s: reserved %d, open reservations %d, balance %d", ws, res, open, bal)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var orphans int
	if err := d.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM credit_transactions t
		WHERE NOT EXISTS (SELECT 1 FROM credit_balances b WHERE b.workspace_id = t.workspace_id)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d ledger rows without a balance", orphans)
	}
}
