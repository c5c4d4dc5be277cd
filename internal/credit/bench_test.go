package credit_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// BenchmarkDeduct measures successful deductions per second on every
// engine: one workspace (the worst case: every deduction contends for one
// balance row) and many goroutines, each deduction with its ledger row and
// audit row in one transaction.
func BenchmarkDeduct(b *testing.B) {
	for _, e := range dbtest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			d := dbtest.Open(b, e.URL(b))
			s := credit.New(d, anyWorkspace{}, nil)
			a := member(actor.Pro)
			fund(b, s, a.WorkspaceID(), credit.MaxAmount)
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := "bench-" + strconv.FormatInt(n.Add(1), 10)
					if _, err := s.DeductCredits(ctx, a, credit.Change{Amount: 1, Key: key}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deductions/s")
		})
	}
}

// BenchmarkDeductOneAtATime measures deductions made one after another
// by one goroutine: the latency of one deduction, its round trips and its
// commit, without contention.
func BenchmarkDeductOneAtATime(b *testing.B) {
	for _, e := range dbtest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			d := dbtest.Open(b, e.URL(b))
			s := credit.New(d, anyWorkspace{}, nil)
			a := member(actor.Pro)
			fund(b, s, a.WorkspaceID(), credit.MaxAmount)
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				if _, err := s.DeductCredits(ctx, a, credit.Change{Amount: 1, Key: "one-" + strconv.Itoa(i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deductions/s")
		})
	}
}
