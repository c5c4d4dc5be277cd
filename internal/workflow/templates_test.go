package workflow_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/workflow/templates"
)

// Every template of the gallery runs as shipped: imported through the API
// with its placeholder ids replaced by a gateway of the workspace (the
// fake receiver), started with its sample input, it completes with its
// sample output; a webhook template answers the same through its hook
// once enabled; a gateway template's message reaches the gateway.
func TestTemplatesRunAsShipped(t *testing.T) {
	t.Parallel()
	list, err := templates.All()
	if err != nil || len(list) < 4 {
		t.Fatalf("templates: %d %v", len(list), err)
	}
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok, recv := gatewayNode(t, url)
		g := connectedGateway(t, h, tok, "alerts", recv)

		var listed struct {
			Items []templates.Template
		}
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/templates", tok, nil).Data(t, &listed)
		if len(listed.Items) != len(list) || listed.Items[0].TriggerType == "" || len(listed.Items[0].StepTypes) == 0 {
			t.Fatalf("listed: %+v", listed.Items)
		}
		sent := 0
		for _, tp := range listed.Items {
			replace := obj{}
			for _, n := range tp.Needs {
				replace[n.ID] = g.ID
			}
			// As shipped, a template that needs a gateway names a placeholder
			// that is no gateway: the import says where.
			if len(tp.Needs) > 0 {
				r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/import", Token: tok,
					Body: obj{"name": tp.Name, "definition": tp.Definition}})
				if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Raw), "config.gatewayId") {
					t.Fatalf("%s imported with its placeholder: %d %s", tp.Slug, r.Status, r.Raw)
				}
			}
			var w wf
			h.Call(http.StatusCreated, "POST", "/api/v1/workflows/import", tok,
				obj{"name": tp.Name, "description": tp.Description, "definition": tp.Definition, "replace": replace}).Data(t, &w)
			if strings.Contains(string(w.Definition), "gw_your_gateway") {
				t.Fatalf("%s: placeholder left: %s", tp.Slug, w.Definition)
			}
			var input any
			_ = json.Unmarshal(tp.SampleInput, &input)
			// (A conversation waits for its reply: no waiting for its end.)
			r := start(t, h, tok, w.ID, obj{"input": input, "wait": tp.SampleReply == ""})
			if tp.SampleReply != "" { // a conversation: answer in its chat
				r = waitRun(t, h, tok, r.ID, func(r run) bool { return r.Status == "running" && r.WakeAt != nil })
				chat := input.(map[string]any)["payload"].(map[string]any)["chatId"]
				deliver(t, h, g, "reply-"+tp.Slug, obj{"chatId": chat, "text": tp.SampleReply})
			}
			r = waitRun(t, h, tok, r.ID, nil)
			if r.Status != "completed" {
				t.Fatalf("%s: run %v", tp.Slug, r)
			}
			if len(tp.SampleOutput) > 0 && !sameJSON(r.Output, tp.SampleOutput) {
				t.Fatalf("%s: output %s, want %s", tp.Slug, r.Output, tp.SampleOutput)
			}
			for _, st := range r.Steps {
				if st.Type == "gateway" {
					sent++
				}
			}
			if tp.TriggerType == "webhook" {
				h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+w.ID+"/enable", tok, nil).Data(t, &w)
				body, _ := json.Marshal(input.(map[string]any)["body"])
				hr := h.Do(apptest.Request{Method: "POST", Path: w.HookURL[strings.Index(w.HookURL, "/hooks/"):], Body: body})
				if hr.Status != http.StatusOK || !sameJSON(hr.Raw, tp.SampleOutput) {
					t.Fatalf("%s: hook answered %d %s", tp.Slug, hr.Status, hr.Raw)
				}
				for _, st := range getRun(t, h, tok, hr.Header.Get("X-Switchboard-Run-Id")).Steps {
					if st.Type == "gateway" {
						sent++
					}
				}
			}
		}
		if sent < 3 {
			t.Fatalf("gateway steps ran %d times", sent)
		}
		msgs := waitSent(t, recv, sent)
		var texts []string
		for _, m := range msgs {
			texts = append(texts, m.Text)
		}
		all := strings.Join(texts, "\n")
		// An export from this workspace, imported into another: its
		// gateway is flagged, refused as it is, mapped or left out by
		// replace (the trigger's list loses it; the step's field goes).
		ev := create(t, h, tok, "on message", def(obj{"type": "event", "gatewayIds": []string{g.ID}},
			obj{"id": "tell", "type": "gateway", "config": obj{"gatewayId": g.ID, "text": "seen"}}))
		var doc struct {
			Name       string
			Definition json.RawMessage
			References []struct{ Field, Kind, ID string }
		}
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+ev.ID+"/export", tok, nil).Data(t, &doc)
		if len(doc.References) != 2 {
			t.Fatalf("references: %+v", doc.References)
		}
		other := h.SignUp("elsewhere@example.com", pw).AccessToken
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/import", Token: other,
			Body: obj{"name": doc.Name, "definition": doc.Definition}}); r.Status != http.StatusBadRequest {
			t.Fatalf("import naming another workspace's gateway: %d %s", r.Status, r.Raw)
		}
		mine := connectedGateway(t, h, other, "mine", recv)
		var moved wf
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows/import", other,
			obj{"name": doc.Name, "definition": doc.Definition, "replace": obj{g.ID: mine.ID}}).Data(t, &moved)
		if strings.Contains(string(moved.Definition), g.ID) || strings.Count(string(moved.Definition), mine.ID) != 2 {
			t.Fatalf("mapped: %s", moved.Definition)
		}
		r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/import", Token: other,
			Body: obj{"name": doc.Name, "definition": doc.Definition, "replace": obj{g.ID: ""}}})
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Raw), "definition.steps[0].config") ||
			strings.Contains(string(r.Raw), "trigger.gatewayIds") {
			t.Fatalf("left out: %d %s", r.Status, r.Raw)
		}

		if !strings.Contains(all, "Big order: 115 (desk, lamp)") || !strings.Contains(all, "Run run_example of wf_example v1 failed at check") ||
			!strings.Contains(all, "Which email should the receipt go to?") || !strings.Contains(all, "Thanks, the receipt goes to ann@example.com.") {
			t.Fatalf("messages: %q", texts)
		}
	})
}
