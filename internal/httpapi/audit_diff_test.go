package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
)

type diffRow struct {
	Action   string          `json:"action"`
	Metadata json.RawMessage `json:"metadata"`
}

// changeOf finds the newest row with action in the admin's view of the log
// and returns its before and after.
func changeOf(t *testing.T, h *apptest.Harness, admin, action string) (before, after map[string]any, raw string) {
	t.Helper()
	var page struct{ Items []diffRow }
	h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?action="+action, admin, nil).Data(t, &page)
	if len(page.Items) == 0 {
		t.Fatalf("no %s row", action)
	}
	var m struct{ Before, After map[string]any }
	if err := json.Unmarshal(page.Items[0].Metadata, &m); err != nil {
		t.Fatal(err)
	}
	if m.Before == nil || m.After == nil {
		t.Fatalf("%s without before/after: %s", action, page.Items[0].Metadata)
	}
	return m.Before, m.After, string(page.Items[0].Metadata)
}

func TestAuditDiff_UpdatesRecordBeforeAndAfter(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		tg := gatewaytest.NewTelegram(t, fakeTelegramToken)
		h := gatewayNode(t, url, []string{tg.Host()}, func(c *config.Config) { c.Gateway.TelegramAPIURL = tg.URL })
		super := h.Admin().AccessToken
		alice := h.SignUp("alice@example.com", pw)
		bob := h.SignUp("bob@example.com", pw)

		// The user's own profile.
		h.Call(http.StatusOK, "PATCH", "/api/v1/me", alice.AccessToken, map[string]any{"name": "Alice B"})
		if b, a, _ := changeOf(t, h, super, "user.updated"); b["name"] != "Test alice@example.com" || a["name"] != "Alice B" {
			t.Fatalf("profile: %v → %v", b, a)
		}
		// Role and plan by an admin.
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+bob.UserID, super, map[string]any{"plan": "PRO", "role": "DEVELOPER"})
		if b, a, _ := changeOf(t, h, super, "admin.user_role_changed"); b["role"] != "MEMBER" || a["role"] != "DEVELOPER" {
			t.Fatalf("role: %v → %v", b, a)
		}
		if b, a, _ := changeOf(t, h, super, "admin.user_plan_changed"); b["plan"] != "FREE" || a["plan"] != "PRO" {
			t.Fatalf("plan: %v → %v", b, a)
		}
		// An organization's name and a member's role.
		o := createOrg(t, h, alice, "Acme")
		h.Call(http.StatusOK, "PATCH", "/api/v1/orgs/"+o.ID, alice.AccessToken, map[string]string{"name": "Acme 2"})
		if b, a, _ := changeOf(t, h, super, "org.renamed"); b["name"] != "Acme" || a["name"] != "Acme 2" {
			t.Fatalf("org: %v → %v", b, a)
		}
		bobJoin := invite(t, h, alice, o.ID, "bob@example.com", "ORG_MEMBER", 1)
		h.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", bob.AccessToken, map[string]string{"token": bobJoin})
		h.Call(http.StatusOK, "PATCH", "/api/v1/orgs/"+o.ID+"/members/"+bob.UserID, alice.AccessToken, map[string]string{"orgRole": "ORG_ADMIN"})
		if b, a, _ := changeOf(t, h, super, "org.member_role_changed"); b["orgRole"] != "ORG_MEMBER" || a["orgRole"] != "ORG_ADMIN" {
			t.Fatalf("member role: %v → %v", b, a)
		}

		// A gateway: the rename shows, the new token never does.
		g := createGateway(t, h, alice.AccessToken, map[string]any{"type": "TELEGRAM", "name": "tg", "credentials": map[string]string{"botToken": fakeTelegramToken}})
		newTG := "987654321:AAReplacementTelegramToken_zyxwvuts"
		h.Call(http.StatusOK, "PATCH", "/api/v1/gateways/"+g.ID, alice.AccessToken, map[string]any{"name": "tg2", "credentials": map[string]string{"botToken": newTG}})
		b, a, raw := changeOf(t, h, super, "gateway.updated")
		if b["name"] != "tg" || a["name"] != "tg2" || a["credentials"] != "[REDACTED]" || b["credentials"] != "[REDACTED]" {
			t.Fatalf("gateway: %s", raw)
		}
		if strings.Contains(raw, newTG) || strings.Contains(raw, fakeTelegramToken) || strings.Contains(raw, "AAReplacement") {
			t.Fatalf("gateway token in the audit log: %s", raw)
		}

		// A workflow: name and trigger moved, the steps did not.
		var wf struct{ ID string }
		steps := []any{map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "`1`"}}}
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", alice.AccessToken, map[string]any{"name": "one", "definition": map[string]any{
			"trigger": map[string]any{"type": "webhook"}, "startStepId": "a", "steps": steps}}).Data(t, &wf)
		h.Call(http.StatusOK, "PUT", "/api/v1/workflows/"+wf.ID, alice.AccessToken, map[string]any{"name": "two", "definition": map[string]any{
			"trigger": map[string]any{"type": "manual"}, "startStepId": "a", "steps": steps}})
		b, a, raw = changeOf(t, h, super, "workflow.updated")
		if b["name"] != "one" || a["name"] != "two" || b["trigger"] == nil || a["trigger"] == nil {
			t.Fatalf("workflow: %s", raw)
		}
		if _, ok := a["steps"]; ok {
			t.Fatalf("unchanged field recorded: %s", raw)
		}
	})
}
