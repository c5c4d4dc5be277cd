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

// A worker that dies while it holds a concurrency slot (here: a workflow
// step claimed with a short timeout and never finished) holds it only
// until its lease ends — the step's timeout plus a margin — not for
// minutes: then another execution of the FREE workspace (one slot) runs,
// and the reaper finishes the dead execution's RUNNING row as FAILED with
// a message saying what happened.
func TestSlots_DeadWorkersSlotFreesWhenItsLeaseEnds(t *testing.T) {
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
		runner, _, err := s.stepRunner(ctx, a, StepRef{InstallationID: inst.ID})
		if err != nil {
			t.Fatal(err)
		}

		// The dying worker: its step had a 500 ms timeout.
		stepCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		dead, err := s.claimStep(stepCtx, a, inst.ID, runner, json.RawMessage(`{"data":"x"}`), "run_dead/p/1/1")
		cancel()
		if err != nil {
			t.Fatal(err)
		}

		queued := Execution{ID: ids.New(ids.PluginExecution), InstallationID: inst.ID, Plugin: "template", Version: "1.0.0",
			Trigger: plugin.TriggerStandalone, Status: Queued, Input: json.RawMessage(`{"data":"Ann"}`), CreatedAt: db.Now()}
		if err := d.Tx(ctx, func(tx *db.Tx) error { return insertExecution(ctx, tx, ws, a.UserID, queued) }); err != nil {
			t.Fatal(err)
		}
		args := ExecuteArgs{ExecutionID: queued.ID, WorkspaceID: ws, UserID: a.UserID, Plan: actor.Free}
		var snooze *rivertype.JobSnoozeError
		if err := s.work(ctx, args); !errors.As(err, &snooze) {
			t.Fatalf("while the lease holds: want a snooze, got %v", err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			err := s.work(ctx, args)
			if err == nil {
				break
			}
			if !errors.As(err, &snooze) || time.Now().After(deadline) {
				t.Fatalf("the dead worker's slot never freed: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		got, err := s.Execution(ctx, a, inst.ID, queued.ID)
		if err != nil || got.Status != Succeeded {
			t.Fatalf("the waiting execution: %+v %v", got, err)
		}

		n, err := s.ReapExpired(ctx)
		if err != nil || n != 1 {
			t.Fatalf("reaped %d, %v; want the dead execution", n, err)
		}
		got, err = s.Execution(ctx, a, inst.ID, dead.ID)
		if err != nil || got.Status != Failed || got.Error != interruptedMessage || got.FinishedAt == nil {
			t.Fatalf("the dead execution after the reaper: %+v %v", got, err)
		}
		// The step's retry takes its row over again.
		again, err := s.claimStep(ctx, a, inst.ID, runner, json.RawMessage(`{"data":"x"}`), "run_dead/p/1/1")
		if err != nil || again.ID != dead.ID {
			t.Fatalf("retry of the dead step: %+v %v", again, err)
		}
	})
}

// Inline built-in steps keep a row only while they hold a slot; the reaper
// deletes such a row once its lease ends instead of leaving it in history.
func TestSlots_ReaperDeletesInlineStepSlots(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		engine, err := wasm.NewEngine(wasm.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := New(d, market.New(d, engine, plugin.NewRegistry(builtin.NewTemplate())), nil, nil, nil)
		a := actor.Actor{UserID: ids.New(ids.User), Role: actor.Member, Plan: actor.Free}
		stepCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		e, err := s.claimStep(stepCtx, a, "", builtin.Template{}, nil, "run_inline/p/1/1")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.ReapExpired(ctx); err != nil || n != 0 {
			t.Fatalf("reaped %d, %v before the lease ended", n, err)
		}
		if _, err := d.SQL().ExecContext(ctx, `UPDATE plugin_executions SET lease_until = $1 WHERE id = $2`, db.Now().Add(-time.Second), e.ID); err != nil {
			t.Fatal(err)
		}
		if n, err := s.ReapExpired(ctx); err != nil || n != 1 {
			t.Fatalf("reaped %d, %v", n, err)
		}
		var left int
		if err := d.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM plugin_executions WHERE id = $1`, e.ID).Scan(&left); err != nil || left != 0 {
			t.Fatalf("inline step row left: %d %v", left, err)
		}
	})
}
