package credit_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// BenchmarkDeductManyWorkspaces measures deductions per second spread
// over 100 workspaces, each with its ledger row and its audit row in one
// transaction. Each workspace's audit chain has its own head, so
// deductions of different workspaces share no row (goal on PostgreSQL:
// ≥ 2,500/s).
func BenchmarkDeductManyWorkspaces(b *testing.B) {
	const workspaces = 100
	for _, e := range dbtest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			// A node's pool sized for the concurrency (pool_max_conns in a
			// production URL); dbtest.Open's pool of 8 would be the bound.
			d, err := db.Open(context.Background(), e.URL(b), db.Options{MaxConns: 32})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { d.Close() })
			if _, err := d.Migrate(context.Background()); err != nil {
				b.Fatal(err)
			}
			s := credit.New(d, anyWorkspace{}, nil)
			actors := make([]actor.Actor, workspaces)
			for i := range actors {
				actors[i] = member(actor.Pro)
				fund(b, s, actors[i].WorkspaceID(), credit.MaxAmount)
			}
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if _, err := s.DeductCredits(ctx, actors[i%workspaces], credit.Change{Amount: 1, Key: "bench-" + strconv.FormatInt(i, 10)}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deductions/s")
		})
	}
}

// On PostgreSQL a deduction costs four round trips: BEGIN, the balance
// update with its ledger row, the audit append, COMMIT. Each one more is
// network latency while the balance row is locked (see "Audit chains per
// workspace" in docs/benchmarks.md).
func TestDeduct_FourRoundTripsOnPostgreSQL(t *testing.T) {
	t.Parallel()
	for _, e := range dbtest.Engines() {
		if e.Name != "postgres" {
			continue
		}
		proxied, trips := dbtest.RoundTrips(t, e.URL(t))
		// One connection, so the statements it has prepared serve every call.
		d, err := db.Open(context.Background(), proxied, db.Options{MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if _, err := d.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		s := credit.New(d, anyWorkspace{}, nil)
		a := member(actor.Pro)
		fund(t, s, a.WorkspaceID(), 1_000_000)
		ctx := context.Background()
		deduct := func(key string) {
			if _, err := s.DeductCredits(ctx, a, credit.Change{Amount: 1, Key: key}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			deduct("warm-" + strconv.Itoa(i))
		}
		const n = 20
		trips.Store(0)
		for i := range n {
			deduct("count-" + strconv.Itoa(i))
		}
		// A pool health check may add a ping.
		if got := trips.Load(); got < 4*n || got > 4*n+1 {
			t.Errorf("%d round trips for %d deductions, want %d", got, n, 4*n)
		}
	}
}
