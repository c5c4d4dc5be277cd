package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// The faults a retry can get past are transient; mistakes in a statement
// and a caller that gave up are not.
func TestIsTransient_Classifies(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{fmt.Errorf("begin: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{io.EOF, true},
		{errors.New("no such table: x"), false},
		{sql.ErrNoRows, false},
	} {
		if got := db.IsTransient(c.err); got != c.want {
			t.Errorf("IsTransient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// Real faults, produced on each engine: on SQLite a write while another
// connection holds the file's write lock past the busy timeout (and a
// constraint violation, which is not transient); on PostgreSQL a statement
// on a connection whose backend was terminated.
func TestIsTransient_RealFaults(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		dup := d.Tx(ctx, func(tx *db.Tx) error {
			for range 2 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, $3)`, "same", 1, 1); err != nil {
					return err
				}
			}
			return nil
		})
		if dup == nil || db.IsTransient(dup) {
			t.Fatalf("a unique violation: %v, transient %v", dup, db.IsTransient(dup))
		}
		var fault error
		if d.Dialect == db.SQLite {
			holder, err := sql.Open("sqlite", "file:"+d.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Close()
			hc, err := holder.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer hc.Close()
			if _, err := hc.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
				t.Fatal(err)
			}
			defer func() { _, _ = hc.ExecContext(ctx, `ROLLBACK`) }()
			other, err := sql.Open("sqlite", "file:"+d.Path+"?_pragma=busy_timeout(50)")
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			_, fault = other.ExecContext(ctx, `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, $3)`, "busy", 1, 1)
		} else {
			app := fmt.Sprintf("sbtransient_%d", time.Now().UnixNano())
			u, _ := url.Parse(os.Getenv(dbtest.EnvURL))
			q := u.Query()
			q.Set("application_name", app)
			u.RawQuery = q.Encode()
			victim, err := pgx.Connect(ctx, u.String())
			if err != nil {
				t.Fatal(err)
			}
			defer victim.Close(ctx)
			admin, err := pgx.Connect(ctx, os.Getenv(dbtest.EnvURL))
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close(ctx)
			if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, app); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for fault == nil && time.Now().Before(deadline) {
				_, fault = victim.Exec(ctx, `SELECT 1`)
			}
		}
		if fault == nil || !db.IsTransient(fault) {
			t.Fatalf("a real fault (%T) %v: transient %v", fault, fault, db.IsTransient(fault))
		}
	})
}
