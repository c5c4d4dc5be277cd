package workflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A delay's job is promoted to available as soon as its time comes (River's
// own scheduler would take up to 5 s more), and not before.
func TestPromoteDueWakesDelayedRuns(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url, func(c *config.Config) { c.Workers = false })
		w := create(t, h, tok, "wake", def(manual, delay("wait", 1, "done"), transform("done", "`1`", "")))
		r := start(t, h, tok, w.ID, obj{})
		if r.Status != "running" || r.WakeAt == nil {
			t.Fatalf("delayed run: %+v", r)
		}
		ctx := context.Background()
		state := func() string {
			var s string
			if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT state FROM river_job WHERE kind = 'workflow.run'`).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		if n, err := h.App.Workflows.PromoteDue(ctx); err != nil || n != 0 || state() != "scheduled" {
			t.Fatalf("promoted early: %d %v %s", n, err, state())
		}
		time.Sleep(time.Until(*r.WakeAt) + 50*time.Millisecond)
		if n, err := h.App.Workflows.PromoteDue(ctx); err != nil || n != 1 || state() != "available" {
			t.Fatalf("not promoted when due: %d %v %s", n, err, state())
		}
	})
}
