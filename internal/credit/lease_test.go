package credit_test

import (
	"context"
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

// counted reads the day's execution counter and the number of leases.
func counted(t *testing.T, d *db.DB, ws string) (used, leases int64) {
	t.Helper()
	day := time.Now().UTC().Format("2006-01-02")
	if err := d.Read().QueryRowContext(context.Background(), `SELECT COALESCE((SELECT used FROM usage_counters WHERE workspace_id = $1 AND metric = 'executions' AND period = $2), 0),
		(SELECT COUNT(*) FROM usage_leases WHERE workspace_id = $1)`, ws, day).Scan(&used, &leases); err != nil {
		t.Fatal(err)
	}
	return used, leases
}

func consume(ctx context.Context, d *db.DB, l *credit.Limits, a actor.Actor) error {
	return d.Tx(ctx, func(tx *db.Tx) error {
		_, err := l.ConsumeTx(ctx, tx, a, actor.ActionExecute, 1, "")
		return err
	})
}

func TestLease_TheRunPastTheLimitIsRefusedExactly(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := credit.NewLimits(d, credit.New(d, anyWorkspace{}, nil))
		a := member(actor.Starter) // 1,000 executions a day
		ws := a.WorkspaceID()
		for i := range 1000 {
			if err := consume(ctx, d, l, a); err != nil {
				t.Fatalf("run %d: %v", i+1, err)
			}
			if i == 9 {
				// Leased, not counted one by one: the row holds a block.
				if used, leases := counted(t, d, ws); used <= 10 || leases != 1 {
					t.Fatalf("after 10 runs the counter is %d with %d leases; want one block leased", used, leases)
				}
				rep, err := l.Usage(ctx, credit.SystemActor(ws))
				if err != nil {
					t.Fatal(err)
				}
				if got := *rep.Items[0].Used; got != 10 {
					t.Fatalf("usage report says %d executions; 10 ran", got)
				}
			}
		}
		if err := consume(ctx, d, l, a); !apperr.Is(err, apperr.PlanLimitExceeded) {
			t.Fatalf("run 1001: %v, want PLAN_LIMIT_EXCEEDED", err)
		}
		l.Close(ctx)
		if used, leases := counted(t, d, ws); used != 1000 || leases != 0 {
			t.Fatalf("after close: counter %d with %d leases; want 1000 and none", used, leases)
		}
	})
}

func TestLease_TwoNodesRacingAtTheLimitNeverExceedIt(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		nodes := []*credit.Limits{credit.NewLimits(d, s), credit.NewLimits(d, s)}
		a := member(actor.Free) // 100 executions a day
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for _, l := range nodes {
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						err := consume(ctx, d, l, a)
						switch {
						case err == nil:
							ok.Add(1)
						case apperr.Is(err, apperr.PlanLimitExceeded):
							refused.Add(1)
							return
						default:
							t.Error(err)
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		// Every node went on until its own refusal, so each spent what it
		// leased: exactly the limit ran.
		if ok.Load() != 100 {
			t.Fatalf("%d runs allowed by two nodes; the limit is 100", ok.Load())
		}
		for _, l := range nodes {
			l.Close(ctx)
		}
		if used, leases := counted(t, d, a.WorkspaceID()); used != 100 || leases != 0 {
			t.Fatalf("counter %d with %d leases; want 100 and none", used, leases)
		}
	})
}

func TestLease_ADeadNodesUnspentLeaseIsGivenBack(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		dead, alive := credit.NewLimits(d, s), credit.NewLimits(d, s)
		dead.SetLeasing(50, time.Hour, 10*time.Millisecond)
		a := member(actor.Business) // 100,000 a day
		ws := a.WorkspaceID()
		for range 5 {
			if err := consume(ctx, d, dead, a); err != nil {
				t.Fatal(err)
			}
		}
		// Its checkpoint reaches the lease's row.
		deadline := time.Now().Add(5 * time.Second)
		for {
			var spent int64
			if err := d.Read().QueryRowContext(ctx, `SELECT spent FROM usage_leases WHERE workspace_id = $1`, ws).Scan(&spent); err != nil {
				t.Fatal(err)
			}
			if spent == 5 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("checkpoint says %d spent; 5 were", spent)
			}
			time.Sleep(10 * time.Millisecond)
		}
		dead.Crash()
		if used, _ := counted(t, d, ws); used != 50 {
			t.Fatalf("counter %d while the dead node's block is out; want 50", used)
		}
		// Not expired yet: nothing is taken back.
		if err := alive.ReclaimExpiredLeases(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if used, leases := counted(t, d, ws); used != 50 || leases != 1 {
			t.Fatalf("a live lease was reclaimed: counter %d, %d leases", used, leases)
		}
		// Expired: what it did not spend goes back.
		if err := alive.ReclaimExpiredLeases(ctx, time.Now().Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if used, leases := counted(t, d, ws); used != 5 || leases != 0 {
			t.Fatalf("after reclaiming: counter %d with %d leases; want 5 and none", used, leases)
		}
	})
}

func TestLease_ARolledBackSavepointTakesItsLeaseWithIt(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := credit.NewLimits(d, credit.New(d, anyWorkspace{}, nil))
		a := member(actor.Free)
		ws := a.WorkspaceID()
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			_ = tx.Savepoint(ctx, "undone", func() error {
				if _, err := l.ConsumeTx(ctx, tx, a, actor.ActionExecute, 1, ""); err != nil {
					return err
				}
				return apperr.New(apperr.Conflict, "undo")
			})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if used, leases := counted(t, d, ws); used != 0 || leases != 0 {
			t.Fatalf("counter %d, %d leases after the savepoint was undone", used, leases)
		}
		// The node holds nothing it could spend uncounted: 100 more runs
		// fit, the 101st does not.
		for i := range 100 {
			if err := consume(ctx, d, l, a); err != nil {
				t.Fatalf("run %d: %v", i+1, err)
			}
		}
		if err := consume(ctx, d, l, a); !apperr.Is(err, apperr.PlanLimitExceeded) {
			t.Fatalf("run 101: %v", err)
		}
		l.Close(ctx)
	})
}

func TestLease_ALargeUseTakesBackTheNodesOwnUnspentBlock(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := credit.NewLimits(d, credit.New(d, anyWorkspace{}, nil))
		a := member(actor.Free) // 100 a day
		if err := consume(ctx, d, l, a); err != nil {
			t.Fatal(err)
		}
		// The node leased a block for that run; 99 more still fit.
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			_, err := l.ConsumeTx(ctx, tx, a, actor.ActionExecute, 99, "")
			return err
		}); err != nil {
			t.Fatalf("99 of the 99 left: %v", err)
		}
		if err := consume(ctx, d, l, a); !apperr.Is(err, apperr.PlanLimitExceeded) {
			t.Fatalf("run 101: %v", err)
		}
		if used, leases := counted(t, d, a.WorkspaceID()); used != 100 || leases != 0 {
			t.Fatalf("counter %d with %d leases; want 100 and none", used, leases)
		}
	})
}

// groupConsume runs n executions of a as GroupTx calls queued while the
// writer is held, so that on SQLite they share transactions, and returns
// how many were counted and how many refused at the limit.
func groupConsume(t *testing.T, d *db.DB, l *credit.Limits, a actor.Actor, n int) (ok, refused int) {
	t.Helper()
	ctx := context.Background()
	held, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = d.Tx(ctx, func(*db.Tx) error { close(held); <-release; return nil })
	}()
	<-held
	var mu sync.Mutex
	var wg sync.WaitGroup
	// A first call leads a batch of its own, waiting for the writer; the
	// n queue behind it for the next.
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = d.GroupTx(ctx, func(*db.Tx) error { return nil })
	}()
	time.Sleep(50 * time.Millisecond)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.GroupTx(ctx, func(tx *db.Tx) error {
				_, err := l.ConsumeTx(ctx, tx, a, actor.ActionExecute, 1, "")
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case apperr.Is(err, apperr.PlanLimitExceeded):
				refused++
			default:
				t.Error(err)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // they queue behind the held writer
	close(release)
	wg.Wait()
	return ok, refused
}

// Runs that share a group commit spend from the lease the first of them
// took (one block, not one per run), and at the limit they are refused
// exactly as runs committed one by one.
func TestLease_RunsSharingACommitSpendOneLease(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := credit.NewLimits(d, credit.New(d, anyWorkspace{}, nil))
		a := member(actor.Free) // 100 executions a day, blocks of at most 12
		ws := a.WorkspaceID()
		c0, n0 := d.GroupCommits()
		if ok, refused := groupConsume(t, d, l, a, 10); ok != 10 || refused != 0 {
			t.Fatalf("%d counted, %d refused of 10", ok, refused)
		}
		if c1, n1 := d.GroupCommits(); d.Dialect == db.SQLite && n1-n0 <= c1-c0 {
			t.Fatalf("the calls did not share transactions: %d in %d", n1-n0, c1-c0)
		}
		if used, leases := counted(t, d, ws); d.Dialect == db.SQLite && (used != 12 || leases != 1) {
			t.Fatalf("counter %d with %d leases after 10 runs in shared commits; want one block of 12", used, leases)
		}
		for i := range 85 {
			if err := consume(ctx, d, l, a); err != nil {
				t.Fatalf("run %d: %v", i+11, err)
			}
		}
		// 5 left: of 12 runs sharing commits, 5 are counted.
		if ok, refused := groupConsume(t, d, l, a, 12); ok != 5 || refused != 7 {
			t.Fatalf("at the limit: %d counted, %d refused of 12 (5 were left)", ok, refused)
		}
		l.Close(ctx)
		if used, leases := counted(t, d, ws); used != 100 || leases != 0 {
			t.Fatalf("after close: counter %d with %d leases; want 100 and none", used, leases)
		}
	})
}
