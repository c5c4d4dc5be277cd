package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/ratelimit"
)

// Nodes sharing a database count each other; a stopped node stops counting
// at once, a silent one once its row is older than NodesDeadAfter.
func TestNodes_CountTheLiveNodesOfTheDatabase(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		a, b := ratelimit.NewNodes(d, nil), ratelimit.NewNodes(d, nil)
		if a.Count() != 1 {
			t.Fatalf("before start: %d", a.Count())
		}
		a.Start(ctx)
		defer a.Stop(ctx)
		b.Start(ctx)
		if err := a.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if a.Count() != 2 || b.Count() != 2 {
			t.Fatalf("two nodes: %d %d", a.Count(), b.Count())
		}
		// A node that died without deleting its row: counted while its
		// heartbeat is recent, not after.
		old := db.Now().Add(-ratelimit.NodesDeadAfter - time.Second)
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO api_nodes (id, started_at, heartbeat_at) VALUES ('api_dead', $1, $1), ('api_fresh', $2, $2)`,
				old, db.Now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := a.Refresh(ctx); err != nil || a.Count() != 3 {
			t.Fatalf("with a fresh peer: %d %v", a.Count(), err)
		}
		b.Stop(ctx)
		if err := a.Refresh(ctx); err != nil || a.Count() != 2 {
			t.Fatalf("after a stop: %d %v", a.Count(), err)
		}
	})
}
