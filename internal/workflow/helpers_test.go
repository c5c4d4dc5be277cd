package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
	"github.com/switchboard/switchboard/internal/gateway/webhook"
)

const pw = "correct horse battery"

// wf is a workflow as the API returns it.
type wf struct {
	ID, Name, Description, TriggerType, HookURL string
	Enabled                                     bool
	Version                                     int
	Definition                                  json.RawMessage
	NextRunAt                                   *time.Time
}

// run is a run as the API returns it.
type run struct {
	ID, WorkflowID, Status, Error, CurrentStepID, Trigger string
	Version, Attempt, StepsUsed, Checkpoint               int
	Input, Output                                         json.RawMessage
	WakeAt, FinishedAt                                    *time.Time
	TimeoutAt                                             time.Time
	Steps                                                 []stepRec
}

type stepRec struct {
	Seq                         int
	StepID, Type, Status, Error string
	Branch                      string
	Attempt                     int
	Input, Output               json.RawMessage
	StartedAt, FinishedAt       time.Time
	DurationUs                  int64
}

// node starts a node and signs up a user in its personal workspace.
func node(t *testing.T, url string, opts ...apptest.Option) (*apptest.Harness, string) {
	t.Helper()
	h := apptest.Start(t, url, opts...)
	return h, h.SignUp("wf@example.com", pw).AccessToken
}

// obj is shorthand for a JSON object.
type obj = map[string]any

// def builds a definition: a trigger and steps, starting at the first.
func def(trigger obj, steps ...obj) obj {
	d := obj{"trigger": trigger, "steps": steps}
	if len(steps) > 0 {
		d["startStepId"] = steps[0]["id"]
	}
	return d
}

var manual = obj{"type": "manual"}

func transform(id, expr, next string) obj {
	s := obj{"id": id, "type": "transform", "config": obj{"expression": expr}}
	if next != "" {
		s["nextStepId"] = next
	}
	return s
}

func condition(id, expr, onTrue, onFalse string) obj {
	return obj{"id": id, "type": "condition", "config": obj{"expression": expr},
		"conditionalNext": obj{"true": onTrue, "false": onFalse}}
}

func delay(id string, seconds int, next string) obj {
	s := obj{"id": id, "type": "delay", "config": obj{"seconds": seconds}}
	if next != "" {
		s["nextStepId"] = next
	}
	return s
}

// tpl is a template plugin step rendering text (a Go template) over data.
func tpl(id, text string, data any, next string) obj {
	s := obj{"id": id, "type": "plugin", "config": obj{"plugin": "template", "input": obj{"template": text, "data": data}}}
	if next != "" {
		s["nextStepId"] = next
	}
	return s
}

// with sets extra fields on a step.
func with(step obj, kv ...any) obj {
	for i := 0; i+1 < len(kv); i += 2 {
		step[kv[i].(string)] = kv[i+1]
	}
	return step
}

func create(t *testing.T, h *apptest.Harness, tok, name string, d obj) wf {
	t.Helper()
	var w wf
	h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, obj{"name": name, "definition": d}).Data(t, &w)
	return w
}

// start starts a manual run and returns it as the API answered.
func start(t *testing.T, h *apptest.Harness, tok, id string, body obj) run {
	t.Helper()
	var r run
	var send any
	if body != nil {
		send = body // a nil obj would go out as a JSON null, which is refused
	}
	h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+id+"/runs", tok, send).Data(t, &r)
	return r
}

func getRun(t *testing.T, h *apptest.Harness, tok, id string) run {
	t.Helper()
	var r run
	h.Call(http.StatusOK, "GET", "/api/v1/runs/"+id, tok, nil).Data(t, &r)
	return r
}

// waitRun polls a run until ok holds (default: it ended).
func waitRun(t *testing.T, h *apptest.Harness, tok, id string, ok func(run) bool) run {
	t.Helper()
	if ok == nil {
		ok = func(r run) bool { return r.Status != "running" }
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := getRun(t, h, tok, id)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: condition not reached: %+v", id, r)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func listRuns(t *testing.T, h *apptest.Harness, tok, query string) []run {
	t.Helper()
	var p struct{ Items []run }
	h.Call(http.StatusOK, "GET", "/api/v1/runs?"+query, tok, nil).Data(t, &p)
	return p.Items
}

// stepIDs lists the step records' step ids in order.
func stepIDs(r run) string {
	var ids []string
	for _, s := range r.Steps {
		ids = append(ids, s.StepID)
	}
	return strings.Join(ids, ",")
}

type fieldError struct{ Field, Message string }

// fields returns the field errors of a VALIDATION_ERROR answer.
func fields(t *testing.T, r *apptest.Response) []fieldError {
	t.Helper()
	if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" {
		t.Fatalf("want 400 VALIDATION_ERROR, got %d %s", r.Status, r.Raw)
	}
	var d struct{ Fields []fieldError }
	if err := json.Unmarshal(r.Body.Error.Details, &d); err != nil {
		t.Fatalf("details %s: %v", r.Body.Error.Details, err)
	}
	return d.Fields
}

// hasField reports whether errs names field with a message containing msg.
func hasField(errs []fieldError, field, msg string) bool {
	for _, e := range errs {
		if e.Field == field && strings.Contains(e.Message, msg) {
			return true
		}
	}
	return false
}

// exec runs SQL against the node's database.
func exec(t *testing.T, h *apptest.Harness, q string, args ...any) {
	t.Helper()
	err := h.App.DB.Tx(context.Background(), func(tx *db.Tx) error {
		_, err := tx.ExecContext(context.Background(), q, args...)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// Gateways: WEBHOOK gateways need no provider fake for inbound events (the
// test signs them) and post outbound messages to a receiver fake.

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// gatewayNode starts a node whose outbound client may reach a webhook
// receiver, and signs up a user.
func gatewayNode(t *testing.T, url string) (*apptest.Harness, string, *gatewaytest.Fake) {
	t.Helper()
	recv := gatewaytest.NewWebhookReceiver(t, hookSecret)
	h, tok := node(t, url, func(c *config.Config) { c.Gateway.OutboundAllow = []string{recv.Host()} })
	return h, tok, recv
}

type gw struct{ ID, Status, InboundURL string }

// connectedGateway creates and connects a WEBHOOK gateway posting to recv.
func connectedGateway(t *testing.T, h *apptest.Harness, tok, name string, recv *gatewaytest.Fake) gw {
	t.Helper()
	var g gw
	h.Call(http.StatusCreated, "POST", "/api/v1/gateways", tok, obj{"type": "WEBHOOK", "name": name,
		"credentials": obj{"signingSecret": hookSecret}, "config": obj{"url": recv.URL}}).Data(t, &g)
	h.Call(http.StatusOK, "POST", "/api/v1/gateways/"+g.ID+"/connect", tok, nil).Data(t, &g)
	if g.Status != "CONNECTED" {
		t.Fatalf("gateway not connected: %+v", g)
	}
	return g
}

// deliver posts one signed inbound event to a WEBHOOK gateway.
func deliver(t *testing.T, h *apptest.Harness, g gw, id string, body obj) {
	t.Helper()
	raw, _ := json.Marshal(body)
	key, _ := webhook.DecodeSecret(hookSecret)
	ts := time.Now().Unix()
	path := g.InboundURL[strings.Index(g.InboundURL, "/hooks/"):]
	r := h.Do(apptest.Request{Method: "POST", Path: path, Body: raw, Headers: map[string]string{
		"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts, 10), "webhook-signature": webhook.Sign(key, id, ts, raw)}})
	if r.Status >= 300 {
		t.Fatalf("delivery answered %d %s", r.Status, r.Raw)
	}
}

// waitSent polls until the receiver has accepted n messages.
func waitSent(t *testing.T, f *gatewaytest.Fake, n int) []gatewaytest.Message {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s := f.Sent(); len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver got %d messages, want %d", len(f.Sent()), n)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// auditActions lists the caller's audit actions (newest first).
func auditActions(t *testing.T, h *apptest.Harness, tok, query string) []string {
	t.Helper()
	var p struct {
		Items []struct{ Action, ResourceID string }
	}
	h.Call(http.StatusOK, "GET", "/api/v1/audit?limit=200&"+query, tok, nil).Data(t, &p)
	var out []string
	for _, it := range p.Items {
		out = append(out, it.Action)
	}
	return out
}

// String keeps failure messages short (inputs can be hundreds of KB).
func (r run) String() string {
	return fmt.Sprintf("run %s v%d status=%s error=%.300q current=%s attempt=%d steps=[%s] wakeAt=%v output=%.300s",
		r.ID, r.Version, r.Status, r.Error, r.CurrentStepID, r.Attempt, stepIDs(r), r.WakeAt, r.Output)
}
