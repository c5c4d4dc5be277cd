package credit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func TestConsume_ParallelRequestsNeverExceedTheLimit(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		l := credit.NewLimits(d, s)
		a := member(actor.Free) // 100 executions a day
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 150; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := l.Consume(ctx, a, actor.ActionExecute, 1, "")
				switch {
				case err == nil:
					ok.Add(1)
				case apperr.Is(err, apperr.PlanLimitExceeded):
					refused.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 100 || refused.Load() != 50 {
			t.Fatalf("%d allowed, %d refused; want 100 and 50", ok.Load(), refused.Load())
		}
	})
}

func TestConsume_OverageIsChargedOnlyWhenEnabledAndAffordable(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		l := credit.NewLimits(d, s)
		a := member(actor.Free)
		ws := a.WorkspaceID()
		if _, err := l.Consume(ctx, a, actor.ActionExecute, 95, ""); err != nil {
			t.Fatal(err)
		}
		// 10 more: 5 fit, 5 would be overage, which is off.
		if _, err := l.Consume(ctx, a, actor.ActionExecute, 10, ""); !apperr.Is(err, apperr.PlanLimitExceeded) {
			t.Fatalf("overage while disabled: %v", err)
		}
		if _, err := s.UpdateSettings(ctx, a, credit.SettingsInput{OverageEnabled: ptr(true)}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Consume(ctx, a, actor.ActionExecute, 10, ""); !apperr.Is(err, apperr.PlanLimitExceeded) {
			t.Fatalf("overage without credits: %v", err)
		}
		fund(t, s, ws, 1000)
		c, err := l.Consume(ctx, a, actor.ActionExecute, 10, "batch-1")
		if err != nil {
			t.Fatal(err)
		}
		// 5 beyond the limit at 0.1 credit per 10 executions = 50 millicredits.
		if c.Used != 105 || c.Overage != 5 || c.Charged != 50 {
			t.Fatalf("consumption %+v", c)
		}
		rep, err := l.Usage(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if it := rep.Items[0]; it.Metric != "executions" || *it.Used != 105 || it.Overage != 5 || it.Limit != 100 {
			t.Fatalf("usage %+v", it)
		}
		b, _ := s.BalanceOf(ctx, ws)
		if b.Balance != 950 {
			t.Fatalf("balance %d, want 950", b.Balance)
		}
		checkInvariant(t, d)
	})
}

func TestCheckCountTx_TwoParallelCreatesCannotBothTakeTheLastSlot(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		a := member(actor.Free) // one gateway
		var created atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := d.Tx(ctx, func(tx *db.Tx) error {
					if err := credit.CheckCountTx(ctx, tx, a, actor.ActionCreateGateway, func(ctx context.Context, tx *db.Tx) (int64, error) {
						var n int64
						err := db.Scope(tx, a.WorkspaceID()).QueryRowContext(ctx, `SELECT COUNT(*) FROM usage_counters WHERE workspace_id = $1 AND metric = 'fake-gateway'`).Scan(&n)
						return n, err
					}); err != nil {
						return err
					}
					_, err := db.Scope(tx, a.WorkspaceID()).ExecContext(ctx, `INSERT INTO usage_counters (workspace_id, metric, period, used, overage, updated_at)
						VALUES ($1, 'fake-gateway', $2, 1, 0, $3) /* workspace_id = $1 */`, "g"+string(rune('a'+created.Load())), db.Now())
					if err == nil {
						created.Add(1)
					}
					return err
				})
				if err != nil && !apperr.Is(err, apperr.PlanLimitExceeded) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if created.Load() != 1 {
			t.Fatalf("%d gateways created on a plan allowing 1", created.Load())
		}
	})
}
