package jobs_test

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/jobs"
)

// sqliteDB opens a fresh migrated SQLite database with River's tables.
func sqliteDB(t *testing.T) *db.DB {
	t.Helper()
	d := dbtest.Open(t, dbtest.SQLite().URL(t))
	if d.Dialect != db.SQLite {
		t.Fatalf("engine 0 is %s", d.Dialect)
	}
	if err := jobs.Migrate(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

// startRunner opens and starts a runner whose ping jobs add to sum.
func startRunner(t *testing.T, d *db.DB, work bool, sum *atomic.Int64) *jobs.Runner {
	t.Helper()
	r := jobs.NewRunner(d, jobs.Config{Work: work, FetchPollInterval: 20 * time.Millisecond})
	river.AddWorker(r.Workers(), &pingWorker{sum: sum})
	if err := r.Open(); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopRunner(t, r) })
	return r
}

func stopRunner(t *testing.T, r *jobs.Runner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func insertPing(t *testing.T, d *db.DB, r *jobs.Runner, n int, opts *river.InsertOpts) int64 {
	t.Helper()
	var id int64
	if err := d.Tx(context.Background(), func(tx *db.Tx) error {
		res, err := r.InsertTx(context.Background(), tx, pingArgs{N: n}, opts)
		if err == nil {
			id = res.Job.ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func waitSum(t *testing.T, sum *atomic.Int64, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for sum.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("jobs worked to %d within %s, want %d", sum.Load(), within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func jobState(t *testing.T, d *db.DB, id int64) string {
	t.Helper()
	var s string
	if err := d.Read().QueryRowContext(context.Background(), `SELECT state FROM river_job WHERE id = $1`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOrphans_RecoveredAtOnceOnSQLite leaves jobs in state 'running' as a
// killed process would, and checks that the next worker node works them
// at once — not after River's rescue delay — except one on its last
// attempt, which is discarded as River's rescuer would.
func TestOrphans_RecoveredAtOnceOnSQLite(t *testing.T) {
	t.Parallel()
	d := sqliteDB(t)
	var sum atomic.Int64
	queuer := startRunner(t, d, false, &sum)
	orphan := insertPing(t, d, queuer, 7, nil)
	last := insertPing(t, d, queuer, 1000, &river.InsertOpts{MaxAttempts: 1})
	if err := d.Tx(context.Background(), func(tx *db.Tx) error {
		_, err := tx.ExecContext(context.Background(), `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = scheduled_at
			WHERE id IN ($1, $2)`, orphan, last)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// A live leader's lease, as the dead process would have left it.
	if err := d.Tx(context.Background(), func(tx *db.Tx) error {
		_, err := tx.ExecContext(context.Background(), `INSERT INTO river_leader (elected_at, expires_at, leader_id)
			VALUES (datetime('now', 'subsec'), datetime('now', '+1 hour'), 'dead-process')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	startRunner(t, d, true, &sum)
	waitSum(t, &sum, 7, 5*time.Second)
	if s := jobState(t, d, last); s != "discarded" {
		t.Errorf("the orphan on its last attempt is %s, want discarded", s)
	}
	var leaders int
	if err := d.Read().QueryRowContext(context.Background(), `SELECT count(*) FROM river_leader WHERE leader_id = 'dead-process'`).Scan(&leaders); err != nil {
		t.Fatal(err)
	}
	if leaders != 0 {
		t.Error("the dead process's leadership was not cleared")
	}
}

// TestOrphans_OneWorkerProcessPerSQLiteFile: a second worker node on the
// same file only queues jobs while the first holds the lock (so it never
// takes the first one's running jobs for orphans), and takes over the
// work once the first stops.
func TestOrphans_OneWorkerProcessPerSQLiteFile(t *testing.T) {
	t.Parallel()
	d := sqliteDB(t)
	if _, err := os.Stat(d.Path + ".workers.lock"); err == nil {
		t.Fatal("lock file before any worker started")
	}
	var sumA, sumB atomic.Int64
	a := startRunner(t, d, true, &sumA)
	if _, err := os.Stat(d.Path + ".workers.lock"); err != nil {
		t.Fatalf("no lock file next to the database: %v", err)
	}
	b := startRunner(t, d, true, &sumB)
	insertPing(t, d, b, 5, nil)
	waitSum(t, &sumA, 5, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	if sumB.Load() != 0 {
		t.Fatalf("the second worker node worked jobs while the first held the lock")
	}

	stopRunner(t, a)
	insertPing(t, d, b, 3, nil)
	waitSum(t, &sumB, 3, 10*time.Second)
	if sumA.Load() != 5 {
		t.Fatalf("the stopped node worked %d", sumA.Load())
	}
}
