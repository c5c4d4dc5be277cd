package workflow_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/ids"
)

// Plugin steps share the workspace's concurrent executions (the plan's
// cpuCores; FREE has one) with every other plugin execution: while the
// slot is taken the step waits (its job is snoozed), then runs; an
// installation's step shows in that installation's execution history.
func TestPluginStepsWaitForAConcurrencySlot(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		var me struct{ ID string }
		h.Call(http.StatusOK, "GET", "/api/v1/me", tok, nil).Data(t, &me)
		var inst struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", tok, obj{"plugin": "template",
			"config": obj{"template": "hi {{.name}}"}}).Data(t, &inst)
		w := create(t, h, tok, "slots", def(manual,
			obj{"id": "p", "type": "plugin", "config": obj{"installationId": inst.ID, "input": obj{"data": obj{"name": "{{ trigger.name }}"}}}}))

		// Another execution holds the one slot.
		busy := ids.New(ids.PluginExecution)
		exec(t, h, `INSERT INTO plugin_executions (id, workspace_id, installation_id, plugin_slug, version, trigger_kind, status, input, logs, created_at, started_at)
			VALUES ($1, $2, $3, 'template', '1.0.0', 'standalone', 'RUNNING', '{}', '[]', $4, $4)`, busy, me.ID, inst.ID, time.Now().UTC())
		r := start(t, h, tok, w.ID, obj{"input": obj{"name": "ada"}})
		time.Sleep(1500 * time.Millisecond)
		if r = getRun(t, h, tok, r.ID); r.Status != "running" || len(r.Steps) != 0 {
			t.Fatalf("the step ran while the slot was taken: %+v", r)
		}

		exec(t, h, `UPDATE plugin_executions SET status = 'SUCCEEDED', finished_at = $2 WHERE id = $1`, busy, time.Now().UTC())
		r = waitRun(t, h, tok, r.ID, nil)
		if r.Status != "completed" || string(r.Output) != `{"text":"hi ada"}` {
			t.Fatalf("after the slot freed: %+v %s", r, r.Output)
		}
		var hist struct {
			Items []struct{ Trigger, Status, IdempotencyKey string }
		}
		h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst.ID+"/executions", tok, nil).Data(t, &hist)
		if len(hist.Items) != 2 || hist.Items[0].Trigger != "workflow_step" || hist.Items[0].Status != "SUCCEEDED" ||
			hist.Items[0].IdempotencyKey == "" {
			t.Fatalf("installation history: %+v", hist.Items)
		}
	})
}
