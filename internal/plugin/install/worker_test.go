package install

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
	"github.com/switchboard/switchboard/internal/plugin/market"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
)

// A FREE workspace runs one execution at a time (cpuCores 1): a job over the
// limit is snoozed, not failed, and runs once the slot frees — including a
// slot held by an execution whose node died (stale RUNNING row).
func TestWork_SnoozesOverTheWorkspaceConcurrencyLimit(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		engine, err := wasm.NewEngine(wasm.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := New(d, market.New(d, engine, plugin.NewRegistry(builtin.NewTemplate())), nil, nil, nil)
		a := actor.Actor{UserID: ids.New(ids.User), Role: actor.Member, Plan: actor.Free}
		inst, err := s.Install(ctx, a, InstallInput{Plugin: "template", Config: json.RawMessage(`{"template":"hi {{.}}"}`)})
		if err != nil {
			t.Fatal(err)
		}
		ws := a.WorkspaceID()
		mk := func(status string, started *time.Time) Execution {
			e := Execution{ID: ids.New(ids.PluginExecution), InstallationID: inst.ID, Plugin: "template", Version: "1.0.0",
				Trigger: plugin.TriggerStandalone, Status: status, Input: json.RawMessage(`{"data":"Ann"}`), CreatedAt: db.Now(), StartedAt: started}
			if err := d.Tx(ctx, func(tx *db.Tx) error { return insertExecution(ctx, tx, ws, a.UserID, e) }); err != nil {
				t.Fatal(err)
			}
			return e
		}
		now := db.Now()
		busy := mk(Running, &now)
		queued := mk(Queued, nil)
		args := ExecuteArgs{ExecutionID: queued.ID, WorkspaceID: ws, UserID: a.UserID, Plan: actor.Free}
		var snooze *rivertype.JobSnoozeError
		if err := s.work(ctx, args); !errors.As(err, &snooze) {
			t.Fatalf("over the limit: want a snooze, got %v", err)
		}
		// The busy execution's node died long ago: its slot is free again.
		if _, err := d.SQL().ExecContext(ctx, `UPDATE plugin_executions SET started_at = $1 WHERE id = $2`, now.Add(-time.Hour), busy.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.work(ctx, args); err != nil {
			t.Fatal(err)
		}
		got, err := s.Execution(ctx, a, inst.ID, queued.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != Succeeded || string(got.Output) != `{"text":"hi Ann"}` || got.StartedAt == nil || got.FinishedAt == nil {
			t.Fatalf("execution %+v output %s", got, got.Output)
		}
		// A retry of a finished job changes nothing.
		if err := s.work(ctx, args); err != nil {
			t.Fatal(err)
		}
	})
}
