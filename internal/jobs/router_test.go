package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/jobs"
)

type workArgs struct {
	Workspace string `json:"workspace"`
	N         int    `json:"n"`
}

func (workArgs) Kind() string { return "test.work" }

// orderWorker records the order in which jobs start.
type orderWorker struct {
	river.WorkerDefaults[workArgs]
	mu      sync.Mutex
	started []string
	quiet   chan struct{}
}

func (w *orderWorker) Work(ctx context.Context, j *river.Job[workArgs]) error {
	w.mu.Lock()
	w.started = append(w.started, j.Args.Workspace)
	w.mu.Unlock()
	if j.Args.Workspace == "quiet" {
		close(w.quiet)
	}
	return nil
}

func noisyJobs(t *testing.T) int {
	if v := os.Getenv("SWITCHBOARD_TEST_NOISY_JOBS"); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			return n
		}
	}
	return 10_000
}

// A workspace with a flood of queued jobs must not starve another workspace
// on the same plan: the quiet workspace's job starts long before the flood
// is worked off.
func TestRouter_NoisyWorkspaceDoesNotStarveAQuietOne(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, d); err != nil {
			t.Fatal(err)
		}
		w := &orderWorker{quiet: make(chan struct{})}
		r := jobs.NewRunner(d, jobs.Config{Work: true, FetchPollInterval: 20 * time.Millisecond})
		river.AddWorker(r.Workers(), w)
		if err := r.Open(); err != nil {
			t.Fatal(err)
		}
		n := noisyJobs(t)
		// The flood is queued first, in batches, before any worker runs.
		for start := 0; start < n; start += 1000 {
			if err := d.Tx(ctx, func(tx *db.Tx) error {
				for i := start; i < start+1000 && i < n; i++ {
					if _, err := r.InsertRouted(ctx, tx, jobs.Route{WorkspaceID: "noisy", Plan: actor.Free}, workArgs{Workspace: "noisy", N: i}, nil); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			_, err := r.InsertRouted(ctx, tx, jobs.Route{WorkspaceID: "quiet", Plan: actor.Free}, workArgs{Workspace: "quiet"}, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = r.Stop(sctx)
		})
		select {
		case <-w.quiet:
		case <-time.After(60 * time.Second):
			t.Fatal("the quiet workspace's job never started")
		}
		w.mu.Lock()
		before := len(w.started) - 1
		w.mu.Unlock()
		// The noisy workspace keeps its fair share (8 jobs on FREE) at full
		// priority; a few batches already fetched may be in flight too.
		if before > 100 {
			t.Fatalf("the quiet job started after %d of the noisy workspace's %d jobs", before, n)
		}
		t.Logf("quiet job started after %d noisy jobs of %d", before, n)
	})
}

func TestSweepBacklog_RecountsWaitingJobs(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, d); err != nil {
			t.Fatal(err)
		}
		r := jobs.NewRunner(d, jobs.Config{})
		if err := r.Open(); err != nil {
			t.Fatal(err)
		}
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			for i := 0; i < 3; i++ {
				if _, err := r.InsertRouted(ctx, tx, jobs.Route{WorkspaceID: "ws_a", Plan: actor.Free}, workArgs{Workspace: "ws_a", N: i}, nil); err != nil {
					return err
				}
			}
			// Drift: a count that no longer matches the job table.
			_, err := tx.ExecContext(ctx, `INSERT INTO job_backlog (workspace_id, queued) VALUES ('ws_gone', 7)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.SQL().ExecContext(ctx, `UPDATE job_backlog SET queued = 99 WHERE workspace_id = 'ws_a'`); err != nil {
			t.Fatal(err)
		}
		if err := jobs.SweepBacklog(ctx, d); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		rows, err := d.Read().QueryContext(ctx, `SELECT workspace_id, queued FROM job_backlog`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var ws string
			var n int64
			if err := rows.Scan(&ws, &n); err != nil {
				t.Fatal(err)
			}
			got[ws] = n
		}
		rows.Close()
		if got["ws_a"] != 3 || got["ws_gone"] != 0 {
			t.Fatalf("after sweep: %v", got)
		}
	})
}

// BenchmarkRouted compares jobs/s worked end to end through the router with
// bare River inserts on the same database (goal: routed ≥ 50% of bare).
func BenchmarkRouted(b *testing.B) {
	for _, e := range dbtest.Engines() {
		for _, routed := range []bool{false, true} {
			name := e.Name + "/bare"
			if routed {
				name = e.Name + "/routed"
			}
			b.Run(name, func(b *testing.B) {
				d := dbtest.Open(b, e.URL(b))
				ctx := context.Background()
				if err := jobs.Migrate(ctx, d); err != nil {
					b.Fatal(err)
				}
				var done atomic.Int64
				r := jobs.NewRunner(d, jobs.Config{Work: true, FetchPollInterval: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
				river.AddWorker(r.Workers(), &countWorker{done: &done})
				if err := r.Open(); err != nil {
					b.Fatal(err)
				}
				if err := r.Start(ctx); err != nil {
					b.Fatal(err)
				}
				defer func() {
					sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					_ = r.Stop(sctx)
				}()
				b.ResetTimer()
				const batch = 100
				for i := 0; i < b.N; i += batch {
					if err := d.Tx(ctx, func(tx *db.Tx) error {
						for j := i; j < i+batch && j < b.N; j++ {
							args := countArgs{N: j}
							var err error
							if routed {
								_, err = r.InsertRouted(ctx, tx, jobs.Route{WorkspaceID: fmt.Sprintf("ws_%d", j%10), Plan: actor.Pro}, args, nil)
							} else {
								_, err = r.InsertTx(ctx, tx, args, &river.InsertOpts{Queue: "pro"})
							}
							if err != nil {
								return err
							}
						}
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
				for done.Load() < int64(b.N) {
					time.Sleep(time.Millisecond)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
			})
		}
	}
}

type countArgs struct{ N int }

func (countArgs) Kind() string { return "test.count" }

type countWorker struct {
	river.WorkerDefaults[countArgs]
	done *atomic.Int64
}

func (w *countWorker) Work(context.Context, *river.Job[countArgs]) error {
	w.done.Add(1)
	return nil
}
