package db_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func TestTx_RollsBackOnErrorAndRunsHooksOnlyAfterCommit(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		hook := 0
		boom := errors.New("boom")
		err := d.Tx(ctx, func(tx *db.Tx) error {
			tx.AfterCommit(func() { hook++ })
			if _, err := tx.ExecContext(ctx, `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, $3)`, "k", 1, 1); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || hook != 0 {
			t.Fatalf("err %v, hook ran %d times", err, hook)
		}
		var n int
		if err := d.Read().QueryRowContext(ctx, `SELECT count(*) FROM rate_limits`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("rolled-back row visible: %d %v", n, err)
		}
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			tx.AfterCommit(func() { hook++ })
			_, err := tx.ExecContext(ctx, `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, $3)`, "k", 1, 1)
			return err
		}); err != nil || hook != 1 {
			t.Fatalf("commit: %v, hook %d", err, hook)
		}
	})
}

func TestIsUniqueViolation_OnBothEngines(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		insert := func() error {
			return d.Tx(ctx, func(tx *db.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, $3)`, "dup", 1, 1)
				return err
			})
		}
		if err := insert(); err != nil {
			t.Fatal(err)
		}
		err := insert()
		if !db.IsUniqueViolation(err) {
			t.Fatalf("second insert: %v is not a unique violation", err)
		}
		if db.IsUniqueViolation(errors.New("other")) {
			t.Fatal("plain error taken for a unique violation")
		}
	})
}

func TestNow_RoundTripsExactly(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := db.Now()
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, last_password_change, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $4, $4)`, "usr_t", "t@example.com", "x", now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var got time.Time
		if err := d.Read().QueryRowContext(ctx, `SELECT created_at FROM users WHERE id = $1`, "usr_t").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(now) {
			t.Fatalf("stored %v, read %v", now, got)
		}
		// Comparisons in SQL order times correctly on both engines.
		var n int
		if err := d.Read().QueryRowContext(ctx, `SELECT count(*) FROM users WHERE created_at < $1 AND created_at > $2`,
			now.Add(time.Microsecond), now.Add(-time.Microsecond)).Scan(&n); err != nil || n != 1 {
			t.Fatalf("range compare: %d %v", n, err)
		}
	})
}

// A transaction that meets a query for the first time must not wait for a
// connection to prepare it on: SQLite has one writer connection, and the
// transaction holds it.
func TestTx_NewQueriesInsideTransactionsNeverDeadlock(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for j := 0; j < 10; j++ {
					errs <- d.Tx(ctx, func(tx *db.Tx) error {
						var c int
						return tx.QueryRowContext(ctx, `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1)
							ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count`,
							"k", i).Scan(&c)
					})
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var total int
		if err := d.Read().QueryRowContext(ctx, `SELECT sum(count) FROM rate_limits`).Scan(&total); err != nil || total != 200 {
			t.Fatalf("sum %d, want 200 (%v)", total, err)
		}
	})
}

// A node's PostgreSQL connections: its option, else the URL's
// pool_max_conns, else the driver's default.
func TestOpen_PostgresConnectionBound(t *testing.T) {
	t.Parallel()
	base := os.Getenv("SWITCHBOARD_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("PostgreSQL only (SWITCHBOARD_TEST_DATABASE_URL)")
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	for _, c := range []struct {
		url  string
		opt  int32
		want int32
	}{
		{base, 0, int32(max(4, runtime.NumCPU()))},
		{base + sep + "pool_max_conns=3", 0, 3},
		{base + sep + "pool_max_conns=3", 5, 5},
	} {
		d, err := db.Open(context.Background(), c.url, db.Options{MaxConns: c.opt})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Pool.Config().MaxConns; got != c.want {
			t.Errorf("%s with MaxConns %d: %d connections, want %d", c.url, c.opt, got, c.want)
		}
		d.Close()
	}
}
