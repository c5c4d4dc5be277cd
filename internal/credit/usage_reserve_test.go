package credit_test

import (
	"context"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func aiTokensUsed(t *testing.T, l *credit.Limits, a actor.Actor) (used, overage int64) {
	t.Helper()
	rep, err := l.Usage(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range rep.Items {
		if it.Metric == "aiTokens" && it.Used != nil {
			return *it.Used, it.Overage
		}
	}
	return 0, 0
}

func TestReserveUsage_HoldsTokensAndCreditsThenCountsWhatIsCharged(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		l := credit.NewLimits(d, s)
		a := member(actor.Free) // 10,000 AI tokens a month
		ws := a.WorkspaceID()
		fund(t, s, ws, 1000)

		// Held: the estimate counts against the allowance and the credits
		// until it is settled.
		r, err := l.ReserveUsage(ctx, a, actor.ActionAITokens, 500, 100, "call-1", "ai")
		if err != nil {
			t.Fatal(err)
		}
		if used, _ := aiTokensUsed(t, l, a); used != 500 || r.Held != 500 {
			t.Fatalf("held %d, counter %d; want 500", r.Held, used)
		}
		if b, _ := s.BalanceOf(ctx, ws); b.Reserved != 100 {
			t.Fatalf("reserved %d, want 100", b.Reserved)
		}
		// The same work twice: refused, nothing more held.
		if _, err := l.ReserveUsage(ctx, a, actor.ActionAITokens, 500, 100, "call-1", "ai"); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("reused key: %v", err)
		}
		if _, err := l.SettleUsage(ctx, a, r, 42, 9, "ai: 42 tokens"); err != nil {
			t.Fatal(err)
		}
		if used, _ := aiTokensUsed(t, l, a); used != 42 {
			t.Fatalf("counted %d, want 42", used)
		}
		if b, _ := s.BalanceOf(ctx, ws); b.Balance != 991 || b.Reserved != 0 {
			t.Fatalf("balance %+v, want 991 and nothing reserved", b)
		}

		// Released: neither tokens nor credits are kept.
		r, err = l.ReserveUsage(ctx, a, actor.ActionAITokens, 500, 100, "call-2", "ai")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.ReleaseUsage(ctx, a, r); err != nil {
			t.Fatal(err)
		}
		if used, _ := aiTokensUsed(t, l, a); used != 42 {
			t.Fatalf("counter %d after release, want 42", used)
		}
		if b, _ := s.BalanceOf(ctx, ws); b.Balance != 991 || b.Reserved != 0 {
			t.Fatalf("balance %+v after release", b)
		}

		// Beyond the allowance without overage: refused, nothing held.
		if _, err := l.Consume(ctx, a, actor.ActionAITokens, 9_900, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ReserveUsage(ctx, a, actor.ActionAITokens, 100, 20, "call-3", "ai"); !apperr.Is(err, apperr.PlanLimitExceeded) {
			t.Fatalf("beyond the allowance: %v", err)
		}
		if used, _ := aiTokensUsed(t, l, a); used != 9_942 {
			t.Fatalf("counter %d after a refusal, want 9942", used)
		}

		// With overage: the credits hold the overage's estimate too, and the
		// settlement counts the tokens and charges their overage.
		if _, err := s.UpdateSettings(ctx, a, credit.SettingsInput{OverageEnabled: ptr(true)}, nil); err != nil {
			t.Fatal(err)
		}
		r, err = l.ReserveUsage(ctx, a, actor.ActionAITokens, 100, 20, "call-4", "ai")
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := s.BalanceOf(ctx, ws); r.Held != 0 || b.Reserved != 40 {
			t.Fatalf("held %d tokens and %d credits; want 0 and 20 + 20 overage", r.Held, b.Reserved)
		}
		if _, err := l.SettleUsage(ctx, a, r, 100, 20, "ai: 100 tokens"); err != nil {
			t.Fatal(err)
		}
		used, over := aiTokensUsed(t, l, a)
		if used != 10_042 || over != 42 {
			t.Fatalf("counter %d overage %d, want 10042 and 42", used, over)
		}
		// 20 for the call, 42 overage tokens at 200 per 1,000 = 9.
		if b, _ := s.BalanceOf(ctx, ws); b.Balance != 991-20-9 || b.Reserved != 0 {
			t.Fatalf("balance %+v", b)
		}
		checkInvariant(t, d)
	})
}
