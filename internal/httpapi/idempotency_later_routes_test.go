package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// The routes added after the idempotency work honour Idempotency-Key as
// the first ones do: 20 parallel requests with one key make one studio
// test run and one event.test delivery, and the key reused with another
// body is a conflict.
func TestIdempotencyKey_TestRunsAndTestDeliveries(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		u := h.SignUp("idemlater@example.com", "correct horse battery")
		ctx := context.Background()
		def := map[string]any{"trigger": map[string]any{"type": "manual"}, "startStepId": "a",
			"steps": []any{map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "trigger"}}}}
		var wf struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", u.AccessToken, map[string]any{"name": "w", "definition": def}).Data(t, &wf)

		for _, viaBody := range []bool{false, true} {
			key := "test-once"
			body := map[string]any{"definition": def, "input": map[string]any{"n": 1}}
			hdr := map[string]string{"Idempotency-Key": key}
			if viaBody {
				key = "test-once-body"
				body["idempotencyKey"], hdr = key, nil
			}
			res := parallelSame(h, 20, apptest.Request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID + "/test", Token: u.AccessToken,
				Body: body, Headers: hdr})
			ids := map[string]bool{}
			for _, r := range res {
				var tr struct{ Run struct{ ID string } }
				if r.Status != http.StatusAccepted {
					t.Fatalf("test run (key in body %v): %d %s", viaBody, r.Status, r.Raw)
				}
				r.Data(t, &tr)
				ids[tr.Run.ID] = true
			}
			if len(ids) != 1 {
				t.Fatalf("key in body %v: %d test runs answered for one key", viaBody, len(ids))
			}
		}
		var runs, defs int
		if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM workflow_runs WHERE workflow_id = $1`, wf.ID).Scan(&runs); err != nil {
			t.Fatal(err)
		}
		if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM workflow_test_definitions WHERE workflow_id = $1`, wf.ID).Scan(&defs); err != nil {
			t.Fatal(err)
		}
		if runs != 2 || defs != 2 {
			t.Fatalf("two keys made %d runs and %d test definitions, want 2 and 2", runs, defs)
		}
		r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID + "/test", Token: u.AccessToken,
			Body: map[string]any{"definition": def, "input": map[string]any{"n": 2}}, Headers: map[string]string{"Idempotency-Key": "test-once"}})
		if r.Status != http.StatusConflict || r.Code() != "IDEMPOTENCY_CONFLICT" {
			t.Fatalf("reused key, other body: %d %s", r.Status, r.Raw)
		}

		var sub struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/event-subscriptions", u.AccessToken, map[string]any{"url": "http://localhost:9/hook",
			"events": []string{"plan.changed"}}).Data(t, &sub)
		res := parallelSame(h, 20, apptest.Request{Method: "POST", Path: "/api/v1/event-subscriptions/" + sub.ID + "/test", Token: u.AccessToken,
			Headers: map[string]string{"Idempotency-Key": "deliver-once"}})
		ids := map[string]bool{}
		for _, r := range res {
			var d struct{ ID string }
			if r.Status != http.StatusAccepted {
				t.Fatalf("test delivery: %d %s", r.Status, r.Raw)
			}
			r.Data(t, &d)
			ids[d.ID] = true
		}
		var n int
		if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM event_deliveries WHERE subscription_id = $1`, sub.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if len(ids) != 1 || n != 1 {
			t.Fatalf("%d deliveries answered, %d stored for one key; want 1 and 1", len(ids), n)
		}
	})
}
