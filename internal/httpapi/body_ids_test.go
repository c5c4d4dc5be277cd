package httpapi_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// bodyIDProbe is one request that carries another workspace's id inside
// its body (not its path).
type bodyIDProbe struct {
	name, method, path, token string
	body                      any
	// want is the one status the refusal must have; 0 accepts any 4xx
	// other than 401, 403 and 429 (a clear "this id is not yours").
	want int
}

// Every id a request body can carry — the gateway a scheduler schedule
// sends through, an installation's subscribed gateways, a workflow's event
// gateways, plugin step installation and gateway step gateway, an
// invitation's or a member's department, the workspace to switch to, the
// usage row a refund gives back — is checked against the actor's
// workspace: another workspace's id (the same user's other workspace
// included) is refused with a clear 4xx and nothing is stored.
func TestBodyIDs_AnotherWorkspacesIDsAreRefused(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		wss := h.Workspaces(t) // A personal, A org, B personal, B org
		mine, myOrg := wss[0], wss[1]
		admin := h.Admin()
		mkGateway := func(ws apptest.Workspace) string {
			var g struct{ ID string }
			h.Call(http.StatusCreated, "POST", "/api/v1/gateways", ws.Token, map[string]any{"type": "WEBHOOK", "name": "gw of " + ws.Name,
				"credentials": map[string]string{"signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}).Data(t, &g)
			return g.ID
		}
		mkInstallation := func(ws apptest.Workspace) string {
			var in struct{ ID string }
			h.Call(http.StatusCreated, "POST", "/api/v1/installations", ws.Token, map[string]any{"plugin": "template",
				"config": map[string]string{"template": "hi {{.}}"}}).Data(t, &in)
			return in.ID
		}
		schedules := func(gatewayID string) map[string]any {
			return map[string]any{"schedules": []any{map[string]any{"name": "s", "cron": "0 9 * * *", "gatewayId": gatewayID, "chatId": "1", "text": "hi"}}}
		}
		myGateway := mkGateway(mine)
		var sched struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", mine.Token, map[string]any{"plugin": "scheduler", "config": schedules(myGateway)}).Data(t, &sched)
		myWorkflow := isolatedWorkflow(t, h, mine)
		myAutoReply := install(t, h, mine.Token, map[string]any{"plugin": "auto-reply",
			"config": map[string]any{"rules": []any{map[string]any{"keyword": "hi", "reply": "hello"}}}})
		// A workspace without a scheduler, so installing one is not refused
		// as a duplicate before its config is read.
		fresh := h.SignUp("no-scheduler@example.com", pw).AccessToken

		snapshots := func() [][]byte {
			return [][]byte{
				h.Call(http.StatusOK, "GET", "/api/v1/installations", mine.Token, nil).Raw,
				h.Call(http.StatusOK, "GET", "/api/v1/workflows", mine.Token, nil).Raw,
				h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+myWorkflow, mine.Token, nil).Raw,
				h.Call(http.StatusOK, "GET", "/api/v1/orgs/"+myOrg.OrgID+"/invitations", myOrg.Token, nil).Raw,
				h.Call(http.StatusOK, "GET", "/api/v1/orgs/"+myOrg.OrgID+"/members", myOrg.Token, nil).Raw,
				h.Call(http.StatusOK, "GET", "/api/v1/credits/transactions", mine.Token, nil).Raw,
				h.Call(http.StatusOK, "GET", "/api/v1/installations", fresh, nil).Raw,
				h.Call(http.StatusOK, "GET", "/api/v1/installations/"+myAutoReply+"/executions", mine.Token, nil).Raw,
				h.Call(http.StatusOK, "GET", "/api/v1/workflows/settings", mine.Token, nil).Raw,
				h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+myWorkflow+"/runs", mine.Token, nil).Raw,
			}
		}
		before := snapshots()

		workflowWith := func(trigger map[string]any, step map[string]any) map[string]any {
			return map[string]any{"trigger": trigger, "startStepId": step["id"], "steps": []any{step}}
		}
		transform := map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "`1`"}}
		for _, other := range wss[1:] { // A's organization, B's personal workspace, B's organization
			theirGateway := mkGateway(other)
			theirInstallation := mkInstallation(other)
			theirWorkflow := isolatedWorkflow(t, h, other)
			var theirTx struct{ Transaction struct{ ID string } }
			h.Call(http.StatusCreated, "POST", "/api/v1/admin/workspaces/"+workspaceIDOf(other)+"/credits", admin.AccessToken,
				map[string]any{"amount": 1000, "type": "grant", "reason": "setup"}).Data(t, &theirTx)
			defs := map[string]map[string]any{
				"event trigger gatewayIds": workflowWith(map[string]any{"type": "event", "gatewayIds": []string{theirGateway}}, transform),
				"plugin step installationId": workflowWith(map[string]any{"type": "manual"},
					map[string]any{"id": "p", "type": "plugin", "config": map[string]any{"installationId": theirInstallation, "input": map[string]any{"data": "x"}}}),
				"gateway step gatewayId": workflowWith(map[string]any{"type": "manual"},
					map[string]any{"id": "g", "type": "gateway", "config": map[string]any{"gatewayId": theirGateway, "chatId": "1", "text": "hi"}}),
				"plugin step inline scheduler config gatewayId": workflowWith(map[string]any{"type": "manual"},
					map[string]any{"id": "p", "type": "plugin", "config": map[string]any{"plugin": "scheduler", "config": schedules(theirGateway)}}),
				"subWorkflow step workflowId": workflowWith(map[string]any{"type": "manual"},
					map[string]any{"id": "s", "type": "subWorkflow", "config": map[string]any{"workflowId": theirWorkflow}}),
				"waitForReply step gatewayId": workflowWith(map[string]any{"type": "manual"},
					map[string]any{"id": "w", "type": "waitForReply", "config": map[string]any{"chat": "'1'", "gatewayId": theirGateway, "timeoutSeconds": 60}}),
				"settings errorWorkflowId": map[string]any{"trigger": map[string]any{"type": "manual"}, "startStepId": "a",
					"steps": []any{transform}, "settings": map[string]any{"errorWorkflowId": theirWorkflow}},
			}
			probes := []bodyIDProbe{
				{name: "install scheduler config.schedules[].gatewayId", method: "POST", path: "/api/v1/installations", token: fresh,
					body: map[string]any{"plugin": "scheduler", "config": schedules(theirGateway)}, want: http.StatusBadRequest},
				{name: "install gatewayIds", method: "POST", path: "/api/v1/installations", token: mine.Token,
					body: map[string]any{"plugin": "template", "config": map[string]string{"template": "x"}, "gatewayIds": []string{theirGateway}}, want: http.StatusBadRequest},
				{name: "update scheduler config.schedules[].gatewayId", method: "PATCH", path: "/api/v1/installations/" + sched.ID, token: mine.Token,
					body: map[string]any{"config": schedules(theirGateway)}, want: http.StatusBadRequest},
				{name: "update gatewayIds", method: "PATCH", path: "/api/v1/installations/" + sched.ID, token: mine.Token,
					body: map[string]any{"gatewayIds": []string{theirGateway}}, want: http.StatusBadRequest},
				{name: "execute auto-reply input.payload.gatewayId", method: "POST", path: "/api/v1/installations/" + myAutoReply + "/execute", token: mine.Token,
					body: map[string]any{"input": map[string]any{"type": "message", "payload": map[string]any{"gatewayId": theirGateway, "chatId": "1", "text": "hi"}}},
					want: http.StatusBadRequest},
				{name: "workflow settings errorWorkflowId", method: "PUT", path: "/api/v1/workflows/settings", token: mine.Token,
					body: map[string]any{"errorWorkflowId": theirWorkflow}},
				{name: "refund transactionId", method: "POST", path: "/api/v1/admin/workspaces/" + mine.User.UserID + "/credits", token: admin.AccessToken,
					body: map[string]any{"amount": 1, "type": "refund", "reason": "probe", "transactionId": theirTx.Transaction.ID}, want: http.StatusNotFound},
			}
			for name, d := range defs {
				probes = append(probes,
					bodyIDProbe{name: "create workflow " + name, method: "POST", path: "/api/v1/workflows", token: mine.Token,
						body: map[string]any{"name": "probe", "definition": d}, want: http.StatusBadRequest},
					bodyIDProbe{name: "update workflow " + name, method: "PUT", path: "/api/v1/workflows/" + myWorkflow, token: mine.Token,
						body: map[string]any{"definition": d}, want: http.StatusBadRequest},
					bodyIDProbe{name: "validate workflow " + name, method: "POST", path: "/api/v1/workflows/validate", token: mine.Token,
						body: d, want: http.StatusBadRequest},
					bodyIDProbe{name: "test run of workflow " + name, method: "POST", path: "/api/v1/workflows/" + myWorkflow + "/test", token: mine.Token,
						body: map[string]any{"definition": d}, want: http.StatusBadRequest},
					bodyIDProbe{name: "import workflow " + name, method: "POST", path: "/api/v1/workflows/import", token: mine.Token,
						body: map[string]any{"name": "probe", "definition": d}, want: http.StatusBadRequest})
			}
			if other.OrgID != "" && other.User.UserID != mine.User.UserID {
				var theirDept struct{ ID string }
				h.Call(http.StatusCreated, "POST", "/api/v1/orgs/"+other.OrgID+"/departments", other.Token, map[string]string{"name": "Theirs"}).Data(t, &theirDept)
				probes = append(probes,
					bodyIDProbe{name: "invitation departmentId", method: "POST", path: "/api/v1/orgs/" + myOrg.OrgID + "/invitations", token: myOrg.Token,
						body: map[string]any{"email": "probe@example.com", "orgRole": "ORG_MEMBER", "departmentId": theirDept.ID}},
					bodyIDProbe{name: "member departmentId", method: "PUT", path: "/api/v1/orgs/" + myOrg.OrgID + "/members/" + mine.User.UserID + "/department",
						token: myOrg.Token, body: map[string]any{"departmentId": theirDept.ID}},
					bodyIDProbe{name: "switch organizationId", method: "POST", path: "/api/v1/auth/switch", token: mine.Token,
						body: map[string]any{"organizationId": other.OrgID}})
			}
			for _, p := range probes {
				r := h.Do(apptest.Request{Method: p.method, Path: p.path, Token: p.token, Body: p.body})
				bad := r.Status < 400 || r.Status >= 500 || r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden || r.Status == http.StatusTooManyRequests
				if p.want != 0 {
					bad = r.Status != p.want
				}
				if bad || r.Body.Success || r.Body.Error == nil {
					t.Errorf("%s with an id of %s: %d %s", p.name, other.Name, r.Status, r.Raw)
				}
			}
		}
		after := snapshots()
		for i := range before {
			if !bytes.Equal(before[i], after[i]) {
				t.Errorf("snapshot %d changed under probes:\nbefore %s\nafter  %s", i, before[i], after[i])
			}
		}
	})
}

// workspaceIDOf is the id of the workspace ws acts in.
func workspaceIDOf(ws apptest.Workspace) string {
	if ws.OrgID != "" {
		return ws.OrgID
	}
	return ws.User.UserID
}
