package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// orgOf returns an organization the workspace's user owns: the workspace's
// own, or a fresh one for a personal workspace.
func orgOf(t *testing.T, h *apptest.Harness, ws apptest.Workspace) string {
	if ws.OrgID != "" {
		return ws.OrgID
	}
	var o struct{ ID string }
	h.Call(http.StatusCreated, "POST", "/api/v1/orgs", ws.User.AccessToken, map[string]string{"name": "extra of " + ws.Name}).Data(t, &o)
	return o.ID
}

// ownedKinds lists every owned endpoint that exists; later features add
// their resources here.
func ownedKinds() []apptest.Owned {
	return []apptest.Owned{
		{
			Name: "organization",
			Create: func(t *testing.T, h *apptest.Harness, ws apptest.Workspace) map[string]string {
				return map[string]string{"id": orgOf(t, h, ws)}
			},
			Read: "/api/v1/orgs/{id}",
			List: "/api/v1/orgs",
			Writes: []apptest.Probe{
				{Method: "PATCH", Path: "/api/v1/orgs/{id}", Body: map[string]string{"name": "pwned"}},
				{Method: "DELETE", Path: "/api/v1/orgs/{id}"},
				{Method: "POST", Path: "/api/v1/orgs/{id}/leave"},
				{Method: "GET", Path: "/api/v1/orgs/{id}/members"},
				{Method: "GET", Path: "/api/v1/orgs/{id}/audit"},
				{Method: "POST", Path: "/api/v1/orgs/{id}/departments", Body: map[string]string{"name": "pwned"}},
				{Method: "POST", Path: "/api/v1/orgs/{id}/invitations", Body: map[string]string{"email": "spy@example.com"}},
			},
		},
		{
			Name: "member",
			Create: func(t *testing.T, h *apptest.Harness, ws apptest.Workspace) map[string]string {
				return map[string]string{"id": orgOf(t, h, ws), "user": ws.User.UserID}
			},
			Snapshot: "/api/v1/orgs/{id}/members",
			Writes: []apptest.Probe{
				{Method: "PATCH", Path: "/api/v1/orgs/{id}/members/{user}", Body: map[string]string{"orgRole": "ORG_MEMBER"}},
				{Method: "DELETE", Path: "/api/v1/orgs/{id}/members/{user}"},
				{Method: "PUT", Path: "/api/v1/orgs/{id}/members/{user}/department", Body: map[string]any{"departmentId": nil}},
			},
		},
		{
			Name: "department",
			Create: func(t *testing.T, h *apptest.Harness, ws apptest.Workspace) map[string]string {
				id := orgOf(t, h, ws)
				var d struct{ ID string }
				h.Call(http.StatusCreated, "POST", "/api/v1/orgs/"+id+"/departments", ws.User.AccessToken, map[string]string{"name": "Sales"}).Data(t, &d)
				return map[string]string{"id": id, "dept": d.ID}
			},
			Snapshot: "/api/v1/orgs/{id}/departments",
			List:     "/api/v1/orgs/{id}/departments",
			Writes: []apptest.Probe{
				{Method: "PATCH", Path: "/api/v1/orgs/{id}/departments/{dept}", Body: map[string]string{"name": "pwned"}},
				{Method: "DELETE", Path: "/api/v1/orgs/{id}/departments/{dept}"},
			},
		},
		{
			Name: "invitation",
			Create: func(t *testing.T, h *apptest.Harness, ws apptest.Workspace) map[string]string {
				id := orgOf(t, h, ws)
				var inv struct{ ID string }
				h.Call(http.StatusCreated, "POST", "/api/v1/orgs/"+id+"/invitations", ws.User.AccessToken,
					map[string]string{"email": "guest-" + ws.User.UserID + "@example.com"}).Data(t, &inv)
				return map[string]string{"id": id, "inv": inv.ID}
			},
			Snapshot: "/api/v1/orgs/{id}/invitations",
			List:     "/api/v1/orgs/{id}/invitations",
			Writes:   []apptest.Probe{{Method: "DELETE", Path: "/api/v1/orgs/{id}/invitations/{inv}"}},
		},
		{
			Name: "API key",
			Create: func(t *testing.T, h *apptest.Harness, ws apptest.Workspace) map[string]string {
				var k struct{ ID string }
				h.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", ws.User.AccessToken, map[string]string{"name": "ci"}).Data(t, &k)
				return map[string]string{"id": k.ID}
			},
			Snapshot: "/api/v1/me/api-keys",
			List:     "/api/v1/me/api-keys",
			Writes:   []apptest.Probe{{Method: "DELETE", Path: "/api/v1/me/api-keys/{id}"}},
		},
		{
			Name: "session",
			Create: func(t *testing.T, h *apptest.Harness, ws apptest.Workspace) map[string]string {
				var list []struct{ ID string }
				h.Call(http.StatusOK, "GET", "/api/v1/me/sessions", ws.User.AccessToken, nil).Items(t, &list)
				return map[string]string{"id": list[0].ID}
			},
			Snapshot: "/api/v1/me/sessions",
			List:     "/api/v1/me/sessions",
			Writes:   []apptest.Probe{{Method: "DELETE", Path: "/api/v1/me/sessions/{id}"}},
		},
		{
			// A workspace's ledger: an admin credits it; no other workspace,
			// not even its owner acting elsewhere, sees the row.
			Name: "credit transaction",
			Create: func(t *testing.T, h *apptest.Harness, ws apptest.Workspace) map[string]string {
				target := ws.OrgID
				if target == "" {
					target = ws.User.UserID
				}
				var res struct{ Transaction struct{ ID string } }
				h.Call(http.StatusCreated, "POST", "/api/v1/admin/workspaces/"+target+"/credits", h.Admin().AccessToken,
					map[string]any{"amount": 1000, "type": "bonus", "reason": "isolation"}).Data(t, &res)
				return map[string]string{"id": res.Transaction.ID}
			},
			Snapshot:      "/api/v1/credits/transactions",
			List:          "/api/v1/credits/transactions",
			ContextScoped: true,
		},
		{
			Name: "gateway",
			Create: func(t *testing.T, h *apptest.Harness, ws apptest.Workspace) map[string]string {
				var g struct{ ID string }
				h.Call(http.StatusCreated, "POST", "/api/v1/gateways", ws.Token, map[string]any{"type": "WEBHOOK", "name": "hook of " + ws.Name,
					"credentials": map[string]string{"signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}).Data(t, &g)
				return map[string]string{"id": g.ID}
			},
			Read:          "/api/v1/gateways/{id}",
			List:          "/api/v1/gateways",
			ContextScoped: true,
			Writes: []apptest.Probe{
				{Method: "PATCH", Path: "/api/v1/gateways/{id}", Body: map[string]string{"name": "pwned"}},
				{Method: "POST", Path: "/api/v1/gateways/{id}/connect"},
				{Method: "POST", Path: "/api/v1/gateways/{id}/disconnect"},
				{Method: "POST", Path: "/api/v1/gateways/{id}/test", Body: map[string]string{"chatId": "1"}},
				{Method: "POST", Path: "/api/v1/gateways/{id}/send", Body: map[string]string{"chatId": "1", "text": "pwned"}},
				{Method: "GET", Path: "/api/v1/gateways/{id}/events"},
				{Method: "DELETE", Path: "/api/v1/gateways/{id}"},
			},
		},
		{
			Name: "installation",
			Create: func(t *testing.T, h *apptest.Harness, ws apptest.Workspace) map[string]string {
				var in struct{ ID string }
				h.Call(http.StatusCreated, "POST", "/api/v1/installations", ws.Token, map[string]any{"plugin": "template",
					"config": map[string]string{"template": "hi {{.}}"}}).Data(t, &in)
				var e struct{ ID string }
				h.Call(http.StatusOK, "POST", "/api/v1/installations/"+in.ID+"/execute", ws.Token, map[string]any{"input": map[string]string{"data": "x"}}).Data(t, &e)
				return map[string]string{"id": in.ID, "exec": e.ID}
			},
			Read:          "/api/v1/installations/{id}",
			List:          "/api/v1/installations",
			ContextScoped: true,
			Writes: []apptest.Probe{
				{Method: "PATCH", Path: "/api/v1/installations/{id}", Body: map[string]any{"config": map[string]string{"template": "pwned"}}},
				{Method: "POST", Path: "/api/v1/installations/{id}/disable"},
				{Method: "POST", Path: "/api/v1/installations/{id}/enable"},
				{Method: "POST", Path: "/api/v1/installations/{id}/execute", Body: map[string]any{"input": map[string]string{"data": "x"}}},
				{Method: "GET", Path: "/api/v1/installations/{id}/executions"},
				{Method: "GET", Path: "/api/v1/installations/{id}/executions/{exec}"},
				{Method: "DELETE", Path: "/api/v1/installations/{id}"},
			},
		},
		{
			// The analytics report reads counters of one installation.
			Name: "analytics installation",
			Create: func(t *testing.T, h *apptest.Harness, ws apptest.Workspace) map[string]string {
				var in struct{ ID string }
				h.Call(http.StatusCreated, "POST", "/api/v1/installations", ws.Token, map[string]any{"plugin": "analytics"}).Data(t, &in)
				return map[string]string{"id": in.ID}
			},
			Read:          "/api/v1/installations/{id}/analytics",
			Snapshot:      "/api/v1/installations/{id}/analytics?from=2026-01-01&to=2026-01-31",
			ContextScoped: true,
			Writes: []apptest.Probe{
				{Method: "GET", Path: "/api/v1/installations/{id}/analytics?groupBy=user"},
				{Method: "GET", Path: "/api/v1/installations/{id}/analytics?groupBy=chat&from=2026-01-01&to=2026-01-31"},
			},
		},
		{
			Name: "workflow",
			Create: func(t *testing.T, h *apptest.Harness, ws apptest.Workspace) map[string]string {
				return map[string]string{"id": isolatedWorkflow(t, h, ws)}
			},
			Read:          "/api/v1/workflows/{id}",
			List:          "/api/v1/workflows",
			ContextScoped: true,
			Writes: []apptest.Probe{
				{Method: "PUT", Path: "/api/v1/workflows/{id}", Body: map[string]any{"name": "pwned"}},
				{Method: "POST", Path: "/api/v1/workflows/{id}/disable"},
				{Method: "POST", Path: "/api/v1/workflows/{id}/enable"},
				{Method: "GET", Path: "/api/v1/workflows/{id}/versions"},
				{Method: "GET", Path: "/api/v1/workflows/{id}/versions/1"},
				{Method: "POST", Path: "/api/v1/workflows/{id}/runs", Body: map[string]any{"input": map[string]any{"n": 1}}},
				{Method: "DELETE", Path: "/api/v1/workflows/{id}"},
			},
		},
		{
			Name: "workflow run",
			Create: func(t *testing.T, h *apptest.Harness, ws apptest.Workspace) map[string]string {
				wf := isolatedWorkflow(t, h, ws)
				var r struct{ ID, Status string }
				h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+wf+"/runs", ws.Token, map[string]any{"input": map[string]any{"n": 2}}).Data(t, &r)
				if r.Status != "completed" {
					t.Fatalf("run: %+v", r)
				}
				return map[string]string{"id": r.ID, "wf": wf}
			},
			Read:          "/api/v1/runs/{id}",
			List:          "/api/v1/runs?workflowId={wf}",
			ContextScoped: true,
			Writes: []apptest.Probe{
				{Method: "POST", Path: "/api/v1/runs/{id}/cancel"},
				{Method: "POST", Path: "/api/v1/runs/{id}/retry"},
			},
		},
	}
}

func TestIsolationMatrix(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		h.IsolationMatrix(t, ownedKinds())
	})
}

// isolatedWorkflow creates a manual workflow of pure steps in ws.
func isolatedWorkflow(t *testing.T, h *apptest.Harness, ws apptest.Workspace) string {
	var w struct{ ID string }
	h.Call(http.StatusCreated, "POST", "/api/v1/workflows", ws.Token, map[string]any{"name": "wf of " + ws.Name,
		"definition": map[string]any{"trigger": map[string]any{"type": "manual"}, "startStepId": "a",
			"steps": []any{map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "{n: trigger.n}"}}}}}).Data(t, &w)
	return w.ID
}
