package credit_test

import (
	"context"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/jobs"
)

type noopArgs struct{}

func (noopArgs) Kind() string { return "test.noop" }

func TestChargePriority_PaysForThePriorityQueueOrRefusesIt(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, d); err != nil {
			t.Fatal(err)
		}
		credits := credit.New(d, anyWorkspace{}, nil)
		r := jobs.NewRunner(d, jobs.Config{})
		r.SetPriorityCharger(credits.ChargePriorityTx)
		if err := r.Open(); err != nil {
			t.Fatal(err)
		}
		ws := "usr_priority"
		route := jobs.Route{WorkspaceID: ws, Plan: actor.Pro, Priority: true}
		// No credits: no priority job, nothing charged.
		err := d.Tx(ctx, func(tx *db.Tx) error {
			_, err := r.InsertRouted(ctx, tx, route, noopArgs{}, nil)
			return err
		})
		if !apperr.Is(err, apperr.InsufficientCredits) {
			t.Fatalf("priority without credits: %v", err)
		}
		if _, err := credits.AddCredits(ctx, actor.Actor{System: true, UserID: ws}, ws, credit.Change{Type: credit.Grant, Amount: 120, Description: "test"}); err != nil {
			t.Fatal(err)
		}
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			res, err := r.InsertRouted(ctx, tx, route, noopArgs{}, nil)
			if err == nil && res.Job.Queue != jobs.QueuePriority {
				t.Errorf("queue %q", res.Job.Queue)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		b, err := credits.BalanceOf(ctx, ws)
		if err != nil || b.Balance != 70 {
			t.Fatalf("balance %d after one priority job, want 120-50=70 (%v)", b.Balance, err)
		}
	})
}
