package workspace_test

import (
	"context"
	"errors"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/workspace"
)

// A pause runs the hooks once however often it is asked for, Paused
// reports it, a resume hands the hooks when the pause began and lifts it,
// an end runs the hooks and leaves a pause alone, and a failing hook rolls
// the whole change back.
func TestLifecycle_PauseResumeEnd(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := workspace.New()
		var seen []workspace.Change
		fail := false
		l.On("recorder", func(ctx context.Context, tx *db.Tx, ch workspace.Change) (map[string]any, error) {
			if fail {
				return nil, errors.New("hook refused")
			}
			seen = append(seen, ch)
			return map[string]any{"n": 1}, nil
		})
		admin := actor.Actor{UserID: "usr_admin", Role: actor.SuperAdmin}
		const ws = "usr_01owner"
		paused := func() bool {
			t.Helper()
			p, err := workspace.Paused(ctx, d.Read(), ws)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		do := func(fn func(tx *db.Tx) error) error { return d.Tx(ctx, fn) }

		if paused() {
			t.Fatal("a new workspace is paused")
		}
		for i := 0; i < 2; i++ {
			if err := do(func(tx *db.Tx) error { return l.PauseTx(ctx, tx, admin, ws, "deactivated") }); err != nil {
				t.Fatal(err)
			}
		}
		if !paused() || len(seen) != 1 || seen[0].Kind != workspace.Pause || seen[0].Reason != "deactivated" {
			t.Fatalf("after two pauses: paused %v, hooks saw %+v", paused(), seen)
		}
		pausedAt := seen[0].Now
		if err := do(func(tx *db.Tx) error { return l.EndTx(ctx, tx, admin, ws, "deleted") }); err != nil {
			t.Fatal(err)
		}
		if !paused() || len(seen) != 2 || seen[1].Kind != workspace.End || seen[1].Reason != "deleted" {
			t.Fatalf("after the end: paused %v, hooks saw %+v", paused(), seen)
		}
		fail = true
		if err := do(func(tx *db.Tx) error { return l.ResumeTx(ctx, tx, admin, ws) }); err == nil || !paused() {
			t.Fatalf("a resume whose hook failed: err %v, paused %v", err, paused())
		}
		fail = false
		if err := do(func(tx *db.Tx) error { return l.ResumeTx(ctx, tx, admin, ws) }); err != nil {
			t.Fatal(err)
		}
		last := seen[len(seen)-1]
		if paused() || last.Kind != workspace.Resume || !last.PausedAt.Equal(pausedAt) || last.Now.Before(pausedAt) {
			t.Fatalf("after the resume: paused %v, last change %+v (paused at %v)", paused(), last, pausedAt)
		}
		n := len(seen)
		if err := do(func(tx *db.Tx) error { return l.ResumeTx(ctx, tx, admin, ws) }); err != nil || len(seen) != n {
			t.Fatalf("resuming a running workspace: err %v, hooks ran again: %v", err, len(seen) != n)
		}
		var actions []string
		rows, err := d.Read().QueryContext(ctx, `SELECT action FROM audit_logs WHERE resource_id = $1 ORDER BY seq`, ws)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				t.Fatal(err)
			}
			actions = append(actions, a)
		}
		if got, want := len(actions), 3; got != want || actions[0] != "workspace.paused" || actions[1] != "workspace.ended" || actions[2] != "workspace.resumed" {
			t.Fatalf("audit: %v", actions)
		}
	})
}
