package credit_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// TestLedger_InvariantOverRandomOperations drives random sequences of
// credits, deductions, replays, reservations, settlements, releases and
// refunds against a model of the balance, checking after every step that
// the service agrees with the model and the database invariant holds. The
// seed is printed; SWITCHBOARD_TEST_SEED replays one.
func TestLedger_InvariantOverRandomOperations(t *testing.T) {
	t.Parallel()
	seed := time.Now().UnixNano()
	if v := os.Getenv("SWITCHBOARD_TEST_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("SWITCHBOARD_TEST_SEED=%q", v)
		}
	}
	t.Logf("seed %d (rerun with SWITCHBOARD_TEST_SEED=%d)", seed, seed)
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := credit.New(d, anyWorkspace{}, nil)
		admin := actor.Actor{UserID: "usr_admin", Role: actor.SuperAdmin, SessionID: "ses_admin", Reauthenticated: true}
		rng := rand.New(rand.NewSource(seed))
		type model struct {
			balance, reserved int64
			open              map[string]int64 // reservation → amount
			usage             []string         // usage rows that can be refunded
			refundable        map[string]int64 // usage row → amount left to refund
			keys              map[string]int64 // used deduction key → signed amount
		}
		wss := []actor.Actor{member(actor.Free), member(actor.Pro)}
		models := map[string]*model{}
		for _, a := range wss {
			models[a.WorkspaceID()] = &model{open: map[string]int64{}, refundable: map[string]int64{}, keys: map[string]int64{}}
		}
		steps := 300
		if testing.Short() {
			steps = 100
		}
		for i := 0; i < steps; i++ {
			a := wss[rng.Intn(len(wss))]
			ws := a.WorkspaceID()
			m := models[ws]
			avail := m.balance - m.reserved
			var op string
			switch k := rng.Intn(8); k {
			case 0, 1:
				amt := 1 + rng.Int63n(5000)
				op = fmt.Sprintf("add %d", amt)
				if _, err := s.AddCredits(ctx, credit.SystemActor(ws), ws, credit.Change{Type: credit.Purchase, Amount: amt}); err != nil {
					t.Fatalf("step %d %s: %v", i, op, err)
				}
				m.balance += amt
			case 2, 3:
				amt := 1 + rng.Int63n(3000)
				key := "k" + strconv.Itoa(rng.Intn(40))
				op = fmt.Sprintf("deduct %d key %s", amt, key)
				r, err := s.DeductCredits(ctx, a, credit.Change{Type: credit.Usage, Amount: amt, Key: key})
				prev, used := m.keys[key]
				switch {
				case used && prev == -amt:
					if err != nil || !r.Replayed {
						t.Fatalf("step %d %s: replay answered %+v %v", i, op, r, err)
					}
				case used:
					if !apperr.Is(err, apperr.Conflict) && !(apperr.Is(err, apperr.InsufficientCredits) && amt > avail) {
						t.Fatalf("step %d %s: reused key answered %v", i, op, err)
					}
				case amt > avail:
					if !apperr.Is(err, apperr.InsufficientCredits) {
						t.Fatalf("step %d %s with %d available: %v", i, op, avail, err)
					}
				default:
					if err != nil {
						t.Fatalf("step %d %s: %v", i, op, err)
					}
					m.balance -= amt
					m.keys[key] = -amt
					m.usage = append(m.usage, r.Transaction.ID)
					m.refundable[r.Transaction.ID] = amt
				}
			case 4:
				amt := 1 + rng.Int63n(2000)
				op = fmt.Sprintf("reserve %d", amt)
				r, err := s.Reserve(ctx, a, amt, "", "ai call", time.Hour)
				if amt > avail {
					if !apperr.Is(err, apperr.InsufficientCredits) {
						t.Fatalf("step %d %s with %d available: %v", i, op, avail, err)
					}
					break
				}
				if err != nil {
					t.Fatalf("step %d %s: %v", i, op, err)
				}
				m.open[r.ID] = amt
				m.reserved += amt
			case 5:
				for id, held := range m.open {
					actual := rng.Int63n(held * 2)
					op = fmt.Sprintf("settle %s held %d actual %d", id, held, actual)
					r, err := s.Settle(ctx, a, id, actual, "")
					if err != nil {
						t.Fatalf("step %d %s: %v", i, op, err)
					}
					delete(m.open, id)
					m.reserved -= held
					charge := min(actual, m.balance-m.reserved)
					if charge > 0 {
						if r.Transaction.Amount != -charge {
							t.Fatalf("step %d %s: charged %d, want %d", i, op, -r.Transaction.Amount, charge)
						}
						m.balance -= charge
						m.usage = append(m.usage, r.Transaction.ID)
						m.refundable[r.Transaction.ID] = charge
					}
					break
				}
			case 6:
				for id := range m.open {
					op = "release " + id
					if err := s.Release(ctx, a, id); err != nil {
						t.Fatalf("step %d %s: %v", i, op, err)
					}
					m.reserved -= m.open[id]
					delete(m.open, id)
					break
				}
			case 7:
				if len(m.usage) == 0 {
					continue
				}
				id := m.usage[rng.Intn(len(m.usage))]
				amt := 1 + rng.Int63n(2000)
				op = fmt.Sprintf("refund %d of %s", amt, id)
				_, err := s.Grant(ctx, admin, ws, credit.GrantInput{Amount: amt, Type: credit.Refund, Reason: "test", TransactionID: id})
				if amt > m.refundable[id] {
					if !apperr.Is(err, apperr.Validation) {
						t.Fatalf("step %d %s with %d left: %v", i, op, m.refundable[id], err)
					}
					break
				}
				if err != nil {
					t.Fatalf("step %d %s: %v", i, op, err)
				}
				m.refundable[id] -= amt
				m.balance += amt
			}
			b, err := s.BalanceOf(ctx, ws)
			if err != nil {
				t.Fatal(err)
			}
			if b.Balance != m.balance || b.Reserved != m.reserved {
				t.Fatalf("step %d %s: balance %d reserved %d, model %d reserved %d", i, op, b.Balance, b.Reserved, m.balance, m.reserved)
			}
			if i%25 == 0 {
				checkInvariant(t, d)
			}
		}
		checkInvariant(t, d)
	})
}
