package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// TestTimeout_StatementIsCancelledAndReportedUnavailable runs a statement
// that outlasts the timeout on PostgreSQL: it fails as unavailable, the
// server stops it (the pool keeps working), and maintenance marked
// WithoutTimeout may run longer.
func TestTimeout_StatementIsCancelledAndReportedUnavailable(t *testing.T) {
	t.Parallel()
	for _, e := range dbtest.Engines() {
		if e.Name != "postgres" {
			continue
		}
		ctx := context.Background()
		// Connecting may be slow on a busy machine; the URL's own
		// connect_timeout is kept.
		d, err := db.Open(ctx, e.URL(t)+"&connect_timeout=30", db.Options{Timeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		var one int
		err = d.Read().QueryRowContext(ctx, `SELECT 1 FROM pg_sleep(30)`).Scan(&one)
		if err == nil || !db.IsUnavailable(err) {
			t.Fatalf("statement past the timeout: %v (unavailable: %v)", err, db.IsUnavailable(err))
		}
		err = d.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `SELECT pg_sleep(30)`)
			return err
		})
		if err == nil || !db.IsUnavailable(err) {
			t.Fatalf("statement in a transaction past the timeout: %v", err)
		}
		if err := d.Read().QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil || one != 1 {
			t.Fatalf("after a timeout: %v", err)
		}
		if err := d.Read().QueryRowContext(db.WithoutTimeout(ctx), `SELECT 1 FROM pg_sleep(0.3)`).Scan(&one); err != nil {
			t.Fatalf("maintenance without a timeout: %v", err)
		}
	}
}

func TestIsUnavailable_ConstraintErrorsAreNot(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		_, err := d.Read().QueryContext(context.Background(), `SELECT * FROM no_such_table`)
		if err == nil || db.IsUnavailable(err) {
			t.Fatalf("a bad statement counts as unavailable: %v", err)
		}
	})
}

// TestTimeout_SQLiteWriterWaitIsBounded keeps SQLite's one writer
// connection busy in a long transaction (as the job queue's pollers do
// while another process holds the lock): a second writer fails as
// unavailable after about the timeout instead of queueing behind it for as
// long as it lasts, and writes again once the connection is free.
func TestTimeout_SQLiteWriterWaitIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := db.Open(ctx, dbtest.SQLite().URL(t), db.Options{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- d.Tx(ctx, func(tx *db.Tx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	start := time.Now()
	err = d.Tx(ctx, func(tx *db.Tx) error { return nil })
	if took := time.Since(start); err == nil || !db.IsUnavailable(err) || !db.IsTransient(err) || took > 5*time.Second {
		t.Fatalf("writer behind a busy writer: %v after %s, want unavailable after about 300ms", err, took)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := d.Tx(ctx, func(tx *db.Tx) error { return nil }); err != nil {
		t.Fatalf("writer once the connection is free: %v", err)
	}
}
