package workflow_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A gateway's outbound messages are listed with filters; a workflow is
// exported (its gateway flagged as a reference), imported, duplicated.
func TestGatewaySendsAndSharing(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok, recv := gatewayNode(t, url)
		g := connectedGateway(t, h, tok, "out", recv)
		w := create(t, h, tok, "sender", def(manual, obj{"id": "send", "type": "gateway", "config": obj{"gatewayId": g.ID, "text": "n={{ trigger.n }}"}}))
		for _, n := range []int{1, 2} {
			if r := waitRun(t, h, tok, start(t, h, tok, w.ID, obj{"input": obj{"n": n}}).ID, nil); r.Status != "completed" {
				t.Fatalf("run: %v", r)
			}
		}
		waitSent(t, recv, 2)

		sends := "/api/v1/gateways/" + g.ID + "/sends"
		type page struct {
			Items []struct {
				ID, Text, Status string
				Attempts         int
			}
			NextCursor string
		}
		var all page
		deadline := time.Now().Add(30 * time.Second)
		for { // delivery is marked SENT just after the receiver has it
			h.Call(http.StatusOK, "GET", sends+"?status=SENT", tok, nil).Data(t, &all)
			if len(all.Items) == 2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
		if len(all.Items) != 2 || all.Items[0].Text != "n=2" || all.Items[1].Text != "n=1" || all.Items[0].Attempts != 1 {
			t.Fatalf("sent messages: %+v", all)
		}
		var p1, p2, none page
		h.Call(http.StatusOK, "GET", sends+"?limit=1", tok, nil).Data(t, &p1)
		h.Call(http.StatusOK, "GET", sends+"?limit=1&cursor="+p1.NextCursor, tok, nil).Data(t, &p2)
		if len(p1.Items) != 1 || p1.NextCursor == "" || len(p2.Items) != 1 || p2.Items[0].ID != all.Items[1].ID || p2.NextCursor != "" {
			t.Fatalf("pages: %+v %+v", p1, p2)
		}
		h.Call(http.StatusOK, "GET", sends+"?status=FAILED", tok, nil).Data(t, &none)
		if len(none.Items) != 0 {
			t.Fatalf("failed messages: %+v", none)
		}
		h.Call(http.StatusOK, "GET", sends+"?since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), tok, nil).Data(t, &none)
		if len(none.Items) != 0 {
			t.Fatalf("messages from the future: %+v", none)
		}
		for _, q := range []string{"?status=sent", "?since=today", "?cursor=nope"} {
			if r := h.Do(apptest.Request{Method: "GET", Path: sends + q, Token: tok}); r.Status != http.StatusBadRequest {
				t.Fatalf("%s: %d %s", q, r.Status, r.Raw)
			}
		}

		// Export: a portable document naming the gateway as a reference.
		h.Call(http.StatusOK, "PUT", "/api/v1/workflows/"+w.ID+"/layout", tok, obj{"layout": obj{"nodes": obj{"send": obj{"x": 3, "y": 4}}}})
		var doc struct {
			Format, Name string
			Definition   json.RawMessage
			Layout       json.RawMessage
			References   []struct{ Field, Kind, ID string }
		}
		exported := h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+w.ID+"/export", tok, nil)
		exported.Data(t, &doc)
		if doc.Format != "switchboard.workflow/v1" || doc.Name != "sender" || len(doc.References) != 1 ||
			doc.References[0] != (struct{ Field, Kind, ID string }{"definition.steps[0].config.gatewayId", "gateway", g.ID}) {
			t.Fatalf("export: %s", exported.Raw)
		}
		if strings.Contains(string(exported.Raw), w.ID) || strings.Contains(string(exported.Raw), "hookUrl") {
			t.Fatalf("the export names the workflow: %s", exported.Raw)
		}
		var body map[string]any
		if err := json.Unmarshal(exported.Body.Data, &body); err != nil {
			t.Fatal(err)
		}

		// Import (here: the gateway exists) makes a new, disabled workflow.
		var imported layoutWF
		var importedState struct{ Enabled bool }
		res := h.Call(http.StatusCreated, "POST", "/api/v1/workflows/import", tok, body)
		res.Data(t, &imported)
		res.Data(t, &importedState)
		if imported.ID == w.ID || imported.Version != 1 || importedState.Enabled || imported.Layout == nil || imported.Layout.Nodes["send"].X != 3 ||
			!strings.Contains(string(imported.Definition), g.ID) {
			t.Fatalf("imported: %s", res.Raw)
		}
		// In another workspace the gateway is unknown: the field says so.
		other := h.SignUp("importer@example.com", pw).AccessToken
		errs := fields(t, h.Call(http.StatusBadRequest, "POST", "/api/v1/workflows/import", other, body))
		if !hasField(errs, "definition.steps[0].config.gatewayId", "names no gateway") {
			t.Fatalf("import elsewhere: %+v", errs)
		}
		body["format"] = "zapier/v9"
		if errs := fields(t, h.Call(http.StatusBadRequest, "POST", "/api/v1/workflows/import", tok, body)); !hasField(errs, "format", "") {
			t.Fatalf("unknown format: %+v", errs)
		}

		// Duplicate.
		var dup struct {
			ID, Name string
			Enabled  bool
			Layout   json.RawMessage
		}
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+w.ID+"/duplicate", tok, nil).Data(t, &dup)
		if dup.ID == w.ID || dup.Name != "sender (copy)" || dup.Enabled || !strings.Contains(string(dup.Layout), `"send"`) {
			t.Fatalf("duplicate: %+v", dup)
		}
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+w.ID+"/duplicate", tok, obj{"name": "again"}).Data(t, &dup)
		if dup.Name != "again" {
			t.Fatalf("named duplicate: %+v", dup)
		}
		for _, r := range []apptest.Request{{Method: "GET", Path: "/api/v1/workflows/" + w.ID + "/export"}, {Method: "POST", Path: "/api/v1/workflows/" + w.ID + "/duplicate"},
			{Method: "GET", Path: sends}} {
			r.Token = other
			if res := h.Do(r); res.Status != http.StatusNotFound {
				t.Fatalf("%s %s from another workspace: %d", r.Method, r.Path, res.Status)
			}
		}
	})
}
