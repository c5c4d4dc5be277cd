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

func TestDeduct_ReplayedKeyChargesOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		a := member(actor.Free)
		fund(t, s, a.WorkspaceID(), 1000)
		first, err := s.DeductCredits(ctx, a, credit.Change{Amount: 300, Key: "exec-1"})
		if err != nil || first.Replayed || first.Transaction.BalanceAfter != 700 {
			t.Fatalf("first deduction: %+v %v", first, err)
		}
		again, err := s.DeductCredits(ctx, a, credit.Change{Amount: 300, Key: "exec-1"})
		if err != nil || !again.Replayed || again.Transaction.ID != first.Transaction.ID {
			t.Fatalf("replay: %+v %v", again, err)
		}
		if _, err := s.DeductCredits(ctx, a, credit.Change{Amount: 5, Key: "exec-1"}); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("same key, other amount: %v", err)
		}
		// Even when the balance can no longer cover it, a replay answers.
		if _, err := s.DeductCredits(ctx, a, credit.Change{Amount: 700, Key: "exec-2"}); err != nil {
			t.Fatal(err)
		}
		if r, err := s.DeductCredits(ctx, a, credit.Change{Amount: 300, Key: "exec-1"}); err != nil || !r.Replayed {
			t.Fatalf("replay on an empty balance: %+v %v", r, err)
		}
		if _, err := s.DeductCredits(ctx, a, credit.Change{Amount: 1, Key: "exec-3"}); !apperr.Is(err, apperr.InsufficientCredits) {
			t.Fatalf("deduction from an empty balance: %v", err)
		}
		checkInvariant(t, d)
	})
}

func TestChanges_RejectBadAmounts(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		a := member(actor.Free)
		ws := a.WorkspaceID()
		for _, amt := range []int64{0, -1, credit.MaxAmount + 1, -1 << 63} {
			if _, err := s.AddCredits(ctx, credit.SystemActor(ws), ws, credit.Change{Type: credit.Purchase, Amount: amt}); !apperr.Is(err, apperr.Validation) {
				t.Errorf("add %d: %v", amt, err)
			}
			if _, err := s.DeductCredits(ctx, a, credit.Change{Amount: amt}); !apperr.Is(err, apperr.Validation) {
				t.Errorf("deduct %d: %v", amt, err)
			}
		}
		if _, err := s.AddCredits(ctx, credit.SystemActor(ws), ws, credit.Change{Type: credit.Usage, Amount: 5}); !apperr.Is(err, apperr.Validation) {
			t.Errorf("usage as a credit: %v", err)
		}
		b, _ := s.BalanceOf(ctx, ws)
		if b.Balance != 0 {
			t.Errorf("bad input changed the balance to %d", b.Balance)
		}
		checkInvariant(t, d)
	})
}

func TestGrant_RefundsAtMostWhatWasTaken(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		admin := actor.Actor{UserID: "usr_admin", Role: actor.Admin, SessionID: "ses_admin", Reauthenticated: true}
		a := member(actor.Free)
		ws := a.WorkspaceID()
		fund(t, s, ws, 1000)
		use, err := s.DeductCredits(ctx, a, credit.Change{Amount: 400})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Grant(ctx, admin, ws, credit.GrantInput{Amount: 300, Type: credit.Refund, Reason: "failed run", TransactionID: use.Transaction.ID})
		if err != nil || r.Transaction.ReversesID != use.Transaction.ID || r.Transaction.Amount != 300 {
			t.Fatalf("refund: %+v %v", r, err)
		}
		if _, err := s.Grant(ctx, admin, ws, credit.GrantInput{Amount: 101, Type: credit.Refund, Reason: "again", TransactionID: use.Transaction.ID}); !apperr.Is(err, apperr.Validation) {
			t.Fatalf("refund beyond the charge: %v", err)
		}
		if _, err := s.Grant(ctx, a, ws, credit.GrantInput{Amount: 5, Type: credit.Grant, Reason: "self"}); !apperr.Is(err, apperr.Forbidden) {
			t.Fatalf("a MEMBER granted credits: %v", err)
		}
		b, _ := s.BalanceOf(ctx, ws)
		if b.Balance != 900 || b.Lifetime != 1000 {
			t.Errorf("balance %d lifetime %d, want 900 and 1000", b.Balance, b.Lifetime)
		}
		checkInvariant(t, d)
	})
}

func TestSettle_ChargesRealCostWithoutGoingNegative(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		a := member(actor.Free)
		ws := a.WorkspaceID()
		fund(t, s, ws, 1000)
		r, err := s.Reserve(ctx, a, 600, "call-1", "ai", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeductCredits(ctx, a, credit.Change{Amount: 401}); !apperr.Is(err, apperr.InsufficientCredits) {
			t.Fatalf("spent held credits: %v", err)
		}
		if again, err := s.Reserve(ctx, a, 600, "call-1", "ai", 0); err != nil || again.ID != r.ID {
			t.Fatalf("reserve replay: %+v %v", again, err)
		}
		res, err := s.Settle(ctx, a, r.ID, 1500, "")
		if err != nil || res.Transaction.Amount != -1000 || res.Transaction.BalanceAfter != 0 {
			t.Fatalf("settle above the balance: %+v %v", res, err)
		}
		if again, err := s.Settle(ctx, a, r.ID, 1500, ""); err != nil || !again.Replayed {
			t.Fatalf("settle twice: %+v %v", again, err)
		}
		if err := s.Release(ctx, a, r.ID); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("release after settle: %v", err)
		}
		checkInvariant(t, d)
	})
}

func TestAutoTopUp_HookRunsOncePerCrossing(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		var crossings atomic.Int64
		s.OnThresholdCrossed(func(ctx context.Context, tx *db.Tx, ws, txID string, set credit.Settings) error {
			crossings.Add(1)
			return nil
		})
		a := member(actor.Free)
		ws := a.WorkspaceID()
		fund(t, s, ws, 10_000)
		if _, err := s.UpdateSettings(ctx, a, credit.SettingsInput{AutoTopUp: &credit.AutoTopUpInput{
			Enabled: ptr(true), Threshold: ptr[int64](5_000), Amount: ptr[int64](1_000_000)}}, []int64{1_000_000}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.DeductCredits(ctx, a, credit.Change{Amount: 200}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := crossings.Load(); n != 1 {
			t.Fatalf("%d crossings for one fall below the threshold", n)
		}
		fund(t, s, ws, 10_000) // back above the threshold
		if _, err := s.DeductCredits(ctx, a, credit.Change{Amount: 9_000}); err != nil {
			t.Fatal(err)
		}
		if n := crossings.Load(); n != 2 {
			t.Fatalf("%d crossings after the second fall, want 2", n)
		}
		checkInvariant(t, d)
	})
}

// A refund takes credits back because money went back: buying more with
// the card at once would undo the refund, so only usage crosses the
// threshold.
func TestAutoTopUp_RefundNeverCrossesTheThreshold(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		var crossings atomic.Int64
		s.OnThresholdCrossed(func(ctx context.Context, tx *db.Tx, ws, txID string, set credit.Settings) error {
			crossings.Add(1)
			return nil
		})
		a := member(actor.Free)
		ws := a.WorkspaceID()
		bought, err := s.AddCredits(ctx, credit.SystemActor(ws), ws, credit.Change{Type: credit.Purchase, Amount: 10_000, Key: "pack"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateSettings(ctx, a, credit.SettingsInput{AutoTopUp: &credit.AutoTopUpInput{
			Enabled: ptr(true), Threshold: ptr[int64](5_000), Amount: ptr[int64](1_000_000)}}, []int64{1_000_000}); err != nil {
			t.Fatal(err)
		}
		err = d.Tx(ctx, func(tx *db.Tx) error {
			_, _, err := s.ReversePurchaseTx(ctx, tx, credit.SystemActor(ws), ws, bought.Transaction.ID, 10_000, "refund:ch_1", nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if b, err := s.GetBalance(ctx, a); err != nil || b.Balance != 0 {
			t.Fatalf("after the refund: %+v %v", b, err)
		}
		if n := crossings.Load(); n != 0 {
			t.Fatalf("a refund from 10,000 to 0 crossed the 5,000 threshold %d times", n)
		}
		// Usage still crosses it.
		fund(t, s, ws, 10_000)
		if _, err := s.DeductCredits(ctx, a, credit.Change{Amount: 6_000}); err != nil {
			t.Fatal(err)
		}
		if n := crossings.Load(); n != 1 {
			t.Fatalf("usage below the threshold: %d crossings, want 1", n)
		}
		checkInvariant(t, d)
	})
}

func TestUpdateSettings_OrgNeedsOwner(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		in := credit.SettingsInput{OverageEnabled: ptr(true)}
		admin := actor.Actor{UserID: "usr_x", Role: actor.Member, OrganizationID: "org_x", OrgRole: actor.OrgAdmin}
		if _, err := s.UpdateSettings(ctx, admin, in, nil); !apperr.Is(err, apperr.Forbidden) {
			t.Fatalf("ORG_ADMIN changed settings: %v", err)
		}
		owner := admin
		owner.OrgRole = actor.OrgOwner
		b, err := s.UpdateSettings(ctx, owner, in, nil)
		if err != nil || !b.Settings.OverageEnabled {
			t.Fatalf("owner: %+v %v", b, err)
		}
		bad := credit.SettingsInput{AutoTopUp: &credit.AutoTopUpInput{Enabled: ptr(true), Threshold: ptr[int64](100), Amount: ptr[int64](7)}}
		if _, err := s.UpdateSettings(ctx, owner, bad, []int64{1000}); !apperr.Is(err, apperr.Validation) {
			t.Fatalf("top-up amount outside the packs: %v", err)
		}
	})
}

func TestEstimateCost_RoundsUpFromTheTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		action string
		qty    int64
		want   int64
	}{
		{"ai.gpt-4o-mini", 1000, 200},
		{"ai.gpt-4o-mini", 1, 1},
		{"ai.gpt-4o-mini", 2500, 500},
		{"overage.executions", 10, 100},
		{"overage.executions", 1, 10},
		{"overage.executions", 0, 0},
	}
	for _, c := range cases {
		got, err := credit.EstimateCost(c.action, c.qty)
		if err != nil || got != c.want {
			t.Errorf("EstimateCost(%s, %d) = %d, %v; want %d", c.action, c.qty, got, err, c.want)
		}
	}
	if _, err := credit.EstimateCost("ai.unknown", 1); !apperr.Is(err, apperr.Validation) {
		t.Errorf("unknown action: %v", err)
	}
	if _, err := credit.EstimateCost("ai.gpt-4o", credit.MaxQuantity+1); !apperr.Is(err, apperr.Validation) {
		t.Errorf("huge quantity: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
