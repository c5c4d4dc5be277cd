package jobs_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/jobs"
)

type pingArgs struct{ N int }

func (pingArgs) Kind() string { return "test.ping" }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	sum *atomic.Int64
}

func (w *pingWorker) Work(ctx context.Context, j *river.Job[pingArgs]) error {
	w.sum.Add(int64(j.Args.N))
	return nil
}

func TestJobs_CommitEnqueuesRollbackDoesNot(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, d); err != nil {
			t.Fatal(err)
		}
		var sum atomic.Int64
		r := jobs.NewRunner(d, jobs.Config{Work: true, FetchPollInterval: 20 * time.Millisecond})
		river.AddWorker(r.Workers(), &pingWorker{sum: &sum})
		if err := r.Open(); err != nil {
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
		// A rolled-back transaction leaves no job behind.
		_ = d.Tx(ctx, func(tx *db.Tx) error {
			if _, err := r.InsertTx(ctx, tx, pingArgs{N: 1000}, nil); err != nil {
				t.Fatal(err)
			}
			return context.Canceled
		})
		for i := 1; i <= 10; i++ {
			if err := d.Tx(ctx, func(tx *db.Tx) error {
				_, err := r.InsertTx(ctx, tx, pingArgs{N: i}, &river.InsertOpts{Queue: jobs.QueueFor("FREE")})
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for sum.Load() != 55 {
			if time.Now().After(deadline) {
				t.Fatalf("jobs worked to %d, want 55", sum.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		if sum.Load() != 55 {
			t.Fatalf("the rolled-back job ran: sum %d", sum.Load())
		}
	})
}
