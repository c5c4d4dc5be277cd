package credit_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// deductions is how many parallel deductions the concurrency test makes:
// 10,000, or SWITCHBOARD_TEST_DEDUCTIONS, or 2,000 with -short.
func deductions(t *testing.T) int {
	if v := os.Getenv("SWITCHBOARD_TEST_DEDUCTIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SWITCHBOARD_TEST_DEDUCTIONS=%q", v)
		}
		return n
	}
	if testing.Short() {
		return 2000
	}
	return 10000
}

func TestDeduct_ParallelNeverOverspends(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		a := member(actor.Pro)
		n := deductions(t)
		// Amounts 1..3 average 2, so the balance covers about half of them.
		start := int64(n)
		fund(t, s, a.WorkspaceID(), start)
		var ok, short, spent atomic.Int64
		var wg sync.WaitGroup
		jobs := make(chan int)
		began := time.Now()
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					amount := int64(1 + i%3)
					r, err := s.DeductCredits(ctx, a, credit.Change{Type: credit.Usage, Amount: amount, Key: "run-" + strconv.Itoa(i)})
					switch {
					case err == nil:
						ok.Add(1)
						spent.Add(amount)
						if r.Transaction.BalanceAfter < 0 {
							t.Errorf("balance after %d", r.Transaction.BalanceAfter)
						}
					case apperr.Is(err, apperr.InsufficientCredits):
						short.Add(1)
					default:
						t.Errorf("deduct %d: %v", i, err)
					}
				}
			}()
		}
		for i := 0; i < n; i++ {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		t.Logf("%d deductions in %v: %d succeeded, %d refused", n, time.Since(began).Round(time.Millisecond), ok.Load(), short.Load())
		if ok.Load()+short.Load() != int64(n) {
			t.Fatalf("%d outcomes for %d deductions", ok.Load()+short.Load(), n)
		}
		if short.Load() == 0 {
			t.Fatal("the balance covered every deduction; the test proves nothing")
		}
		b, err := s.BalanceOf(ctx, a.WorkspaceID())
		if err != nil {
			t.Fatal(err)
		}
		if b.Balance != start-spent.Load() {
			t.Errorf("balance %d, want %d - %d = %d", b.Balance, start, spent.Load(), start-spent.Load())
		}
		// Whatever is left is less than the largest amount anyone was refused.
		if b.Balance >= 3 {
			t.Errorf("balance %d left although deductions of up to 3 were refused", b.Balance)
		}
		checkInvariant(t, d)
	})
}

// Retries of one charge or one credit that arrive together, each with the
// same key, change the balance once: one of them writes the ledger row,
// the others wait for it and answer with its result.
func TestChanges_ParallelRetriesOfOneKeyApplyOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		a := member(actor.Pro)
		ws := a.WorkspaceID()
		fund(t, s, ws, 10_000)
		const retries = 8
		for round := 0; round < 5; round++ {
			key := "retry-" + strconv.Itoa(round)
			results := make(chan credit.Result, 2*retries)
			var wg sync.WaitGroup
			for i := 0; i < retries; i++ {
				wg.Add(2)
				go func() {
					defer wg.Done()
					r, err := s.DeductCredits(ctx, a, credit.Change{Amount: 100, Key: key + "-charge"})
					if err != nil {
						t.Errorf("charge: %v", err)
					}
					results <- r
				}()
				go func() {
					defer wg.Done()
					r, err := s.AddCredits(ctx, credit.SystemActor(ws), ws, credit.Change{Type: credit.Bonus, Amount: 7, Key: key + "-bonus"})
					if err != nil {
						t.Errorf("credit: %v", err)
					}
					results <- r
				}()
			}
			wg.Wait()
			close(results)
			fresh, ids := 0, map[string]bool{}
			for r := range results {
				if !r.Replayed {
					fresh++
				}
				ids[r.Transaction.ID] = true
			}
			if fresh != 2 || len(ids) != 2 {
				t.Fatalf("round %d: %d fresh results over %d ledger rows, want 2 and 2", round, fresh, len(ids))
			}
		}
		b, err := s.BalanceOf(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(10_000 - 5*100 + 5*7); b.Balance != want {
			t.Errorf("balance %d, want %d", b.Balance, want)
		}
		checkInvariant(t, d)
	})
}
