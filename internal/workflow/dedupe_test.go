package workflow_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A webhook that names a delivery header starts one run per delivery:
// a provider's redelivery (same X-GitHub-Delivery) is answered with the
// first delivery's run, even when the copies arrive at once.
func TestWebhookTrigger_DedupeHeaderStartsOneRunPerDelivery(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		async := create(t, h, tok, "github", def(obj{"type": "webhook", "dedupeHeader": "X-GitHub-Delivery"}, transform("echo", "trigger.body", "")))
		deliver := func(w wf, id, body string) *apptest.Response {
			hdr := map[string]string{}
			if id != "" {
				hdr["X-GitHub-Delivery"] = id
			}
			return h.Do(apptest.Request{Method: "POST", Path: hookPath(w), Body: body, Headers: hdr})
		}
		runIDs := make([]string, 10)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range runIDs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r := deliver(async, "72d3162e-cc78-11e3-81ab-4c9367dc0958", `{"n":1}`)
				if r.Status != http.StatusAccepted {
					t.Errorf("delivery: %d %s", r.Status, r.Raw)
					return
				}
				var acc struct{ RunID string }
				r.Data(t, &acc)
				runIDs[i] = acc.RunID
			}()
		}
		close(start)
		wg.Wait()
		for _, id := range runIDs {
			if id == "" || id != runIDs[0] {
				t.Fatalf("one delivery started several runs: %v", runIDs)
			}
		}
		r := deliver(async, "72d3162e-cc78-11e3-81ab-4c9367dc0958", `{"n":1}`)
		if r.Header.Get("Idempotent-Replayed") != "true" || !strings.Contains(string(r.Raw), runIDs[0]) {
			t.Fatalf("redelivery: %v %s", r.Header, r.Raw)
		}
		// Another delivery, or one without the header, is a run of its own.
		for _, id := range []string{"another-delivery", ""} {
			var acc struct{ RunID string }
			deliver(async, id, `{"n":2}`).Data(t, &acc)
			if acc.RunID == "" || acc.RunID == runIDs[0] {
				t.Fatalf("delivery %q: run %q", id, acc.RunID)
			}
		}
		var page struct{ Items []struct{ ID string } }
		h.Call(http.StatusOK, "GET", "/api/v1/runs?workflowId="+async.ID, tok, nil).Data(t, &page)
		if len(page.Items) != 3 {
			t.Fatalf("%d runs for 3 distinct deliveries", len(page.Items))
		}

		// Sync: the redelivery is answered with the first run's result.
		sync := create(t, h, tok, "sync", def(obj{"type": "webhook", "mode": "sync", "dedupeHeader": "X-Delivery"}, transform("echo", "trigger.body", "")))
		first, _, body1 := hookCall(t, h, "POST", hookPath(sync), `{"v":"first"}`, map[string]string{"X-Delivery": "d1"})
		second, hdr, body2 := hookCall(t, h, "POST", hookPath(sync), `{"v":"second"}`, map[string]string{"X-Delivery": "d1"})
		if first != http.StatusOK || second != http.StatusOK || body1 != `{"v":"first"}` || body2 != body1 || hdr.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("sync redelivery: %d %s / %d %s %v", first, body1, second, body2, hdr)
		}
	})
}

// A delivery header whose value is not UTF-8 (HTTP allows any byte but
// controls there) still deduplicates, on PostgreSQL as on SQLite: it is
// never stored as it came.
func TestWebhookTrigger_DedupeHeaderNotUTF8(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "bytes", def(obj{"type": "webhook", "dedupeHeader": "X-Delivery"}, transform("echo", "trigger.body", "")))
		var first string
		for i := range 2 {
			r := h.Do(apptest.Request{Method: "POST", Path: hookPath(w), Body: `{"n":1}`, Headers: map[string]string{"X-Delivery": "d\xff\xfe1"}})
			if r.Status != http.StatusAccepted {
				t.Fatalf("delivery %d: %d %s", i, r.Status, r.Raw)
			}
			var acc struct{ RunID string }
			r.Data(t, &acc)
			if i == 0 {
				first = acc.RunID
			} else if acc.RunID != first || r.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("redelivery started run %s (first %s)", acc.RunID, first)
			}
		}
	})
}
