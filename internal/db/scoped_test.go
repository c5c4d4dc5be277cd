package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func TestScoped_RefusesQueriesThatForgetTheWorkspace(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := db.Scope(d.Read(), "org_a")
		if _, err := s.QueryContext(ctx, `SELECT id FROM users`); !errors.Is(err, db.ErrUnscoped) {
			t.Fatalf("unscoped query ran: %v", err)
		}
		var x int
		if err := s.QueryRowContext(ctx, `SELECT 1`).Scan(&x); err == nil {
			t.Fatal("unscoped single-row query ran")
		}
		if _, err := db.Scope(d.Read(), "").QueryContext(ctx, `SELECT 1 WHERE 'x' <> $1 OR workspace_id = $1`); err == nil {
			t.Fatal("empty workspace accepted")
		}
		// A scoped query gets the workspace as $1.
		var got string
		if err := s.QueryRowContext(ctx, `SELECT workspace_id FROM (SELECT CAST($1 AS TEXT) AS workspace_id) w WHERE workspace_id = $1`).Scan(&got); err != nil || got != "org_a" {
			t.Fatalf("scoped query: %q %v", got, err)
		}
	})
}
