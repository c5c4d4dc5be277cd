package db_test

import (
	"context"
	"errors"
	"sync"
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
		// An insert into the workspace is scoped when its first column is
		// workspace_id = $1; the same insert with the id anywhere else is not.
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			w := db.Scope(tx, "org_a")
			if _, err := w.ExecContext(ctx, `INSERT INTO workspace_locks (workspace_id, n) VALUES ($1, 5)`); err != nil {
				t.Errorf("owned insert refused: %v", err)
			}
			if _, err := w.ExecContext(ctx, `INSERT INTO workspace_locks (n, workspace_id) VALUES (5, $1)`); !errors.Is(err, db.ErrUnscoped) {
				t.Errorf("insert without workspace_id first ran: %v", err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// A scoped query gets the workspace as $1.
		var got string
		if err := s.QueryRowContext(ctx, `SELECT workspace_id FROM (SELECT CAST($1 AS TEXT) AS workspace_id) w WHERE workspace_id = $1`).Scan(&got); err != nil || got != "org_a" {
			t.Fatalf("scoped query: %q %v", got, err)
		}
	})
}

func TestLockWorkspace_SerializesCheckThenInsert(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		const limit = 3
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_ = d.Tx(ctx, func(tx *db.Tx) error {
					if err := db.LockWorkspace(ctx, tx, "org_x"); err != nil {
						return err
					}
					var n int
					if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rate_limits WHERE key = 'slot'`).Scan(&n); err != nil {
						return err
					}
					if n >= limit {
						return nil
					}
					_, err := tx.ExecContext(ctx, `INSERT INTO rate_limits (key, window_start, count) VALUES ('slot', $1, 1)`, i)
					return err
				})
			}(i)
		}
		wg.Wait()
		var n int
		if err := d.Read().QueryRowContext(ctx, `SELECT count(*) FROM rate_limits WHERE key = 'slot'`).Scan(&n); err != nil || n != limit {
			t.Fatalf("%d slots taken, limit %d (%v)", n, limit, err)
		}
	})
}
