package jobs_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/jobs"
)

// postgresDB opens a fresh migrated PostgreSQL schema with River's tables,
// or skips the test without one.
func postgresDB(t *testing.T) *db.DB {
	t.Helper()
	for _, e := range dbtest.Engines() {
		if e.Name == "postgres" {
			d := dbtest.Open(t, e.URL(t))
			if err := jobs.Migrate(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Skip("needs PostgreSQL: set " + dbtest.EnvURL)
	return nil
}

func exec(t *testing.T, d *db.DB, q string, args ...any) {
	t.Helper()
	if err := d.Tx(context.Background(), func(tx *db.Tx) error {
		_, err := tx.ExecContext(context.Background(), q, args...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// takenBy marks a job 'running', its first attempt made by node a minute
// ago, as a node that took it and then froze or died would leave it.
func takenBy(t *testing.T, d *db.DB, id int64, node string) {
	t.Helper()
	exec(t, d, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() - interval '1 minute',
		attempted_by = ARRAY[$2::text] WHERE id = $1`, id, node)
}

// TestNodes_DeadNodesJobsRescuedWithinSecondsOnPostgres: jobs left
// 'running' by a node whose heartbeat stopped (or whose row is gone) are
// worked again within seconds by another node — not after River's rescue
// delay — while the jobs of a node that still beats, and of a client that
// never did (an older version), stay where they are.
func TestNodes_DeadNodesJobsRescuedWithinSecondsOnPostgres(t *testing.T) {
	t.Parallel()
	d := postgresDB(t)
	var sum atomic.Int64
	queuer := startRunner(t, d, false, &sum)

	dead := insertPing(t, d, queuer, 7, nil)
	gone := insertPing(t, d, queuer, 20, nil)
	last := insertPing(t, d, queuer, 1000, &river.InsertOpts{MaxAttempts: 1})
	live := insertPing(t, d, queuer, 300, nil)
	legacy := insertPing(t, d, queuer, 4000, nil)
	takenBy(t, d, dead, "sbn_deadhost_00000000000000aa")
	takenBy(t, d, last, "sbn_deadhost_00000000000000aa")
	takenBy(t, d, gone, "sbn_gonehost_00000000000000bb") // no row: stopped and deleted, or deleted as long dead
	takenBy(t, d, live, "sbn_livehost_00000000000000cc")
	takenBy(t, d, legacy, "oldhost_2025_01_01T00_00_00_000000") // River's default id: no heartbeat
	exec(t, d, `INSERT INTO job_nodes (id, started_at, heartbeat_at) VALUES
		('sbn_deadhost_00000000000000aa', now() - interval '1 hour', now() - interval '30 seconds'),
		('sbn_livehost_00000000000000cc', now() - interval '1 hour', now()),
		('sbn_longdead_00000000000000dd', now() - interval '3 hours', now() - interval '2 hours')`)

	began := time.Now()
	w := startRunner(t, d, true, &sum)
	if !strings.HasPrefix(w.NodeID(), "sbn_") {
		t.Errorf("node id %q", w.NodeID())
	}
	var beats int
	if err := d.Read().QueryRowContext(context.Background(), `SELECT count(*) FROM job_nodes WHERE id = $1`, w.NodeID()).Scan(&beats); err != nil {
		t.Fatal(err)
	}
	if beats != 1 {
		t.Fatal("the worker node started without its heartbeat row")
	}

	// A node sweeps as it starts, then every NodeDeadAfter/3 (5 s).
	waitSum(t, &sum, 27, 10*time.Second)
	t.Logf("the dead nodes' jobs were worked %s after the start", time.Since(began).Round(time.Millisecond))
	if s := jobState(t, d, last); s != "discarded" {
		t.Errorf("the dead node's job on its last attempt is %s, want discarded", s)
	}
	var by string
	if err := d.Read().QueryRowContext(context.Background(), `SELECT attempted_by[cardinality(attempted_by)] FROM river_job WHERE id = $1`, dead).Scan(&by); err != nil {
		t.Fatal(err)
	}
	if by != w.NodeID() {
		t.Errorf("the rescued job was last attempted by %q, want the worker node %q", by, w.NodeID())
	}

	// Another sweep or two, with the live node still beating: its job and
	// the old client's stay running.
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		exec(t, d, `UPDATE job_nodes SET heartbeat_at = now() WHERE id = 'sbn_livehost_00000000000000cc'`)
		time.Sleep(500 * time.Millisecond)
	}
	if got := sum.Load(); got != 27 {
		t.Errorf("jobs worked to %d, want 27: a live node's or a heartbeat-less client's job was taken", got)
	}
	for _, id := range []int64{live, legacy} {
		if s := jobState(t, d, id); s != "running" {
			t.Errorf("job %d is %s, want still running", id, s)
		}
	}
	var longDead int
	if err := d.Read().QueryRowContext(context.Background(), `SELECT count(*) FROM job_nodes WHERE id = 'sbn_longdead_00000000000000dd'`).Scan(&longDead); err != nil {
		t.Fatal(err)
	}
	if longDead != 0 {
		t.Error("the row of a node dead for hours was not deleted")
	}

	// A clean stop deletes the node's row.
	stopRunner(t, w)
	if err := d.Read().QueryRowContext(context.Background(), `SELECT count(*) FROM job_nodes WHERE id = $1`, w.NodeID()).Scan(&beats); err != nil {
		t.Fatal(err)
	}
	if beats != 0 {
		t.Error("a stopped node left its heartbeat row")
	}
}

// TestNodes_EveryRunnerHasItsOwnID: two runners (two nodes) never share a
// River client id, so attempted_by tells which one took a job.
func TestNodes_EveryRunnerHasItsOwnID(t *testing.T) {
	t.Parallel()
	d := sqliteDB(t)
	a := jobs.NewRunner(d, jobs.Config{})
	b := jobs.NewRunner(d, jobs.Config{})
	if a.NodeID() == b.NodeID() || !strings.HasPrefix(a.NodeID(), "sbn_") {
		t.Errorf("node ids %q and %q", a.NodeID(), b.NodeID())
	}
	if err := a.Open(); err != nil {
		t.Fatal(err)
	}
	if a.Client.ID() != a.NodeID() {
		t.Errorf("River client id %q, want %q", a.Client.ID(), a.NodeID())
	}
}
