package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type scopedKey struct {
	ID         string     `json:"id"`
	Key        string     `json:"key"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedBy  string     `json:"createdBy"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
}

func newKey(t *testing.T, h *apptest.Harness, path, token string, scopes ...string) scopedKey {
	t.Helper()
	var k scopedKey
	body := map[string]any{"name": "bot"}
	if scopes != nil {
		body["scopes"] = scopes
	}
	h.Call(http.StatusCreated, "POST", path, token, body).Data(t, &k)
	return k
}

func wantForbidden(t *testing.T, r *apptest.Response, msgPart string) {
	t.Helper()
	if r.Status != http.StatusForbidden || r.Code() != "FORBIDDEN" || !strings.Contains(r.Body.Error.Message, msgPart) {
		t.Fatalf("want 403 FORBIDDEN naming %q, got %d: %s", msgPart, r.Status, r.Raw)
	}
}

func workflowBody(name string) map[string]any {
	return map[string]any{"name": name, "definition": map[string]any{"trigger": map[string]any{"type": "manual"}, "startStepId": "a",
		"steps": []any{map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "`1`"}}}}}
}

func TestAPIKeyScopes_RefuseWhatTheyDoNotGrant(t *testing.T) {
	runAuth(t, func(f authFlow) {
		t, h := f.t, f.Harness
		s := h.SignUp("scoped@example.com", authPassword)

		// Without scopes a personal key has full access, as every key had.
		full := newKey(t, h, "/api/v1/me/api-keys", s.AccessToken)
		if !slices.Equal(full.Scopes, []string{"*"}) {
			t.Fatalf("default scopes: %v", full.Scopes)
		}
		h.Call(http.StatusOK, "GET", "/api/v1/me", full.Key, nil)

		k := newKey(t, h, "/api/v1/me/api-keys", s.AccessToken, "workflows:read", "workflows:run")
		if !slices.Equal(k.Scopes, []string{"workflows:read", "workflows:run"}) {
			t.Fatalf("scopes: %v", k.Scopes)
		}
		h.Call(http.StatusOK, "GET", "/api/v1/workflows", k.Key, nil)
		wantForbidden(t, h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows", Token: k.Key, Body: workflowBody("x")}),
			"this API key lacks the scope workflows:write (for workflow:create)")
		wantForbidden(t, h.Do(apptest.Request{Method: "GET", Path: "/api/v1/gateways", Token: k.Key}), "lacks the scope gateways:read")
		wantForbidden(t, h.Do(apptest.Request{Method: "GET", Path: "/api/v1/credits", Token: k.Key}), "lacks the scope credits:read")
		wantForbidden(t, h.Do(apptest.Request{Method: "GET", Path: "/api/v1/audit", Token: k.Key}), "lacks the scope audit:read")
		// A route that declares no scope is closed to every key but *.
		wantForbidden(t, h.Do(apptest.Request{Method: "GET", Path: "/api/v1/me", Token: k.Key}), "lacks the scope *")
		wantForbidden(t, h.Do(apptest.Request{Method: "GET", Path: "/api/v1/me/api-keys", Token: k.Key}), "lacks the scope *")

		var wf struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", s.AccessToken, workflowBody("mine")).Data(t, &wf)
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+wf.ID, k.Key, nil)
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+wf.ID+"/runs", k.Key, map[string]any{"input": map[string]any{}})
		wantForbidden(t, h.Do(apptest.Request{Method: "DELETE", Path: "/api/v1/workflows/" + wf.ID, Token: k.Key}), "lacks the scope workflows:write")

		// Sending through a gateway is not changing it, nor the reverse.
		send := newKey(t, h, "/api/v1/me/api-keys", s.AccessToken, "gateways:send")
		wantForbidden(t, h.Do(apptest.Request{Method: "PATCH", Path: "/api/v1/gateways/gw_x", Token: send.Key, Body: map[string]any{"name": "x"}}),
			"lacks the scope gateways:write")
		write := newKey(t, h, "/api/v1/me/api-keys", s.AccessToken, "gateways:write")
		wantForbidden(t, h.Do(apptest.Request{Method: "POST", Path: "/api/v1/gateways/gw_x/send", Token: write.Key, Body: map[string]any{"chatId": "1", "text": "hi"}}),
			"lacks the scope gateways:send")
		// A write scope covers its read.
		h.Call(http.StatusOK, "GET", "/api/v1/gateways", write.Key, nil)

		// read_only expands to every read scope.
		ro := newKey(t, h, "/api/v1/me/api-keys", s.AccessToken, "read_only")
		if !slices.Equal(ro.Scopes, []string{"workflows:read", "gateways:read", "plugins:read", "credits:read", "audit:read"}) {
			t.Fatalf("read_only scopes: %v", ro.Scopes)
		}
		for _, p := range []string{"/api/v1/workflows", "/api/v1/gateways", "/api/v1/plugins", "/api/v1/installations", "/api/v1/credits", "/api/v1/audit"} {
			h.Call(http.StatusOK, "GET", p, ro.Key, nil)
		}

		// Unknown or empty scopes are refused, and a key cannot make keys.
		f.wantErr(h.Do(apptest.Request{Method: "POST", Path: "/api/v1/me/api-keys", Token: s.AccessToken,
			Body: map[string]any{"name": "x", "scopes": []string{"workflows:destroy"}}}), http.StatusBadRequest, "VALIDATION_ERROR", "")
		f.wantErr(h.Do(apptest.Request{Method: "POST", Path: "/api/v1/me/api-keys", Token: s.AccessToken,
			Body: map[string]any{"name": "x", "scopes": []string{""}}}), http.StatusBadRequest, "VALIDATION_ERROR", "")
		wantForbidden(t, h.Do(apptest.Request{Method: "POST", Path: "/api/v1/me/api-keys", Token: full.Key, Body: map[string]any{"name": "x"}}),
			"an API key cannot create API keys")

		// Created and revoked are audited in the personal log, with the scopes,
		// even when the session acts in an organization.
		o := createOrg(t, h, s, "Elsewhere")
		inOrg := newKey(t, h, "/api/v1/me/api-keys", switchTo(t, h, s, o.ID), "credits:read")
		h.Call(http.StatusOK, "DELETE", "/api/v1/me/api-keys/"+inOrg.ID, s.AccessToken, nil)
		for _, action := range []string{"apikey.created", "apikey.revoked"} {
			if n := f.count(`SELECT count(*) FROM audit_logs WHERE action = $1 AND resource_id = $2 AND user_id = $3 AND organization_id IS NULL`,
				action, inOrg.ID, s.UserID); n != 1 {
				t.Errorf("%s of a personal key audited %d times in the personal log", action, n)
			}
		}
		if md := f.auditMetadata("apikey.created", "success"); len(md) == 0 || fmt.Sprint(md[len(md)-1]["scopes"]) != "[credits:read]" {
			t.Errorf("creation audit lacks the scopes: %v", md)
		}
	})
}

// TestAPIKeyScopes_ReadOnlyKeyRefusedOnEveryWrite walks every signed-in
// operation the OpenAPI document lists that is not a read: a read-only
// key is refused on each before anything happens.
func TestAPIKeyScopes_ReadOnlyKeyRefusedOnEveryWrite(t *testing.T) {
	runAuth(t, func(f authFlow) {
		t, h := f.t, f.Harness
		s := h.SignUp("walker@example.com", authPassword)
		ro := newKey(t, h, "/api/v1/me/api-keys", s.AccessToken, "read_only")
		var doc struct {
			Paths map[string]map[string]struct {
				Security []map[string]any `json:"security"`
			} `json:"paths"`
		}
		if err := json.Unmarshal(h.Call(http.StatusOK, "GET", "/api/v1/openapi.json", "", nil).Raw, &doc); err != nil {
			t.Fatal(err)
		}
		// Operations sent with POST that change nothing.
		reads := map[string]bool{"POST /api/v1/workflows/validate": true, "POST /api/v1/workflows/expressions/preview": true}
		param := regexp.MustCompile(`\{[^}]+\}`)
		walked := 0
		for path, ops := range doc.Paths {
			for method, op := range ops {
				m := strings.ToUpper(method)
				if m == "GET" || len(op.Security) == 0 || reads[m+" "+path] {
					continue
				}
				walked++
				r := h.Do(apptest.Request{Method: m, Path: param.ReplaceAllString(path, "x_1"), Token: ro.Key, Body: map[string]any{}})
				if r.Status != http.StatusForbidden || r.Code() != "FORBIDDEN" || !strings.Contains(r.Body.Error.Message, "lacks the scope") {
					t.Errorf("%s %s with a read-only key: %d %s", m, path, r.Status, r.Raw)
				}
			}
		}
		t.Logf("walked %d write operations", walked)
		if walked < 50 {
			t.Fatalf("walked only %d write operations", walked)
		}
	})
}

func TestOrgAPIKeys_ActAsTheOrganizationAndOutliveTheirCreator(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		t.Parallel()
		h := apptest.Start(t, url)
		f := authFlow{t: t, Harness: h}
		owner := h.SignUp("owner@example.com", pw)
		bob := h.SignUp("bob@example.com", pw)
		carol := h.SignUp("carol@example.com", pw)
		o := createOrg(t, h, owner, "Acme")
		other := createOrg(t, h, owner, "Other")
		h.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", bob.AccessToken, map[string]string{"token": invite(t, h, owner, o.ID, bob.Email, "ORG_ADMIN", 1)})
		h.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", carol.AccessToken, map[string]string{"token": invite(t, h, owner, o.ID, carol.Email, "DEPT_MANAGER", 1)})
		keys := "/api/v1/orgs/" + o.ID + "/api-keys"

		// Only ORG_ADMIN+ manage the organization's keys; outsiders see nothing.
		wantForbidden(t, h.Do(apptest.Request{Method: "POST", Path: keys, Token: carol.AccessToken, Body: map[string]any{"name": "x", "scopes": []string{"workflows:read"}}}), "org:apikeys:manage")
		wantForbidden(t, h.Do(apptest.Request{Method: "GET", Path: keys, Token: carol.AccessToken}), "org:apikeys:manage")
		h.Call(http.StatusNotFound, "GET", "/api/v1/orgs/"+other.ID+"/api-keys", bob.AccessToken, nil)
		// Scopes are required on an organization's key.
		h.Call(http.StatusBadRequest, "POST", keys, bob.AccessToken, map[string]any{"name": "x"})

		k := newKey(t, h, keys, bob.AccessToken, "workflows:write", "audit:read")
		if k.CreatedBy != bob.UserID || !slices.Equal(k.Scopes, []string{"workflows:write", "audit:read"}) {
			t.Fatalf("created: %+v", k)
		}

		// It acts in the organization's workspace.
		var wf struct {
			ID             string `json:"id"`
			OrganizationID string `json:"organizationId"`
		}
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", k.Key, workflowBody("org flow")).Data(t, &wf)
		ownerOrg := switchTo(t, h, owner, o.ID)
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+wf.ID, ownerOrg, nil)
		h.Call(http.StatusNotFound, "GET", "/api/v1/workflows/"+wf.ID, owner.AccessToken, nil)

		// …and nowhere else: not a person's workspace, not another organization.
		var mine, theirs struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", bob.AccessToken, workflowBody("bob's")).Data(t, &mine)
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", switchTo(t, h, owner, other.ID), workflowBody("other")).Data(t, &theirs)
		h.Call(http.StatusNotFound, "GET", "/api/v1/workflows/"+mine.ID, k.Key, nil)
		h.Call(http.StatusNotFound, "GET", "/api/v1/workflows/"+theirs.ID, k.Key, nil)
		h.Call(http.StatusNotFound, "GET", "/api/v1/orgs/"+other.ID+"/audit", k.Key, nil)
		var list []struct{ ID string }
		h.Call(http.StatusOK, "GET", "/api/v1/workflows", k.Key, nil).Items(t, &list)
		if len(list) != 1 || list[0].ID != wf.ID {
			t.Fatalf("the key lists %+v, want only %s", list, wf.ID)
		}
		for _, p := range []string{"/api/v1/me", "/api/v1/orgs/" + o.ID + "/members", "/api/v1/orgs", keys} {
			wantForbidden(t, h.Do(apptest.Request{Method: "GET", Path: p, Token: k.Key}), "an organization's API key cannot call")
		}
		wantForbidden(t, h.Do(apptest.Request{Method: "POST", Path: "/api/v1/orgs/" + o.ID + "/invitations", Token: k.Key,
			Body: map[string]string{"email": "x@example.com", "orgRole": "ORG_OWNER"}}), "an organization's API key cannot call")
		wantForbidden(t, h.Do(apptest.Request{Method: "GET", Path: "/api/v1/gateways", Token: k.Key}), "lacks the scope gateways:read")
		// Even full access on an organization's key stays within the scopes.
		star := newKey(t, h, keys, owner.AccessToken, "*")
		h.Call(http.StatusOK, "GET", "/api/v1/credits", star.Key, nil)
		wantForbidden(t, h.Do(apptest.Request{Method: "PUT", Path: "/api/v1/credits/settings", Token: star.Key, Body: map[string]any{}}), "an organization's API key cannot call")
		wantForbidden(t, h.Do(apptest.Request{Method: "GET", Path: "/api/v1/admin/users", Token: star.Key}), "cannot use users:read")

		// The creator leaves the organization, then deletes the account: the key stays.
		h.Call(http.StatusOK, "DELETE", "/api/v1/orgs/"+o.ID+"/members/"+bob.UserID, owner.AccessToken, nil)
		h.Call(http.StatusOK, "DELETE", "/api/v1/me", bob.AccessToken, nil)
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+wf.ID, k.Key, nil)

		// Its use is recorded at most once a minute; it reads the org's audit log.
		var got []scopedKey
		h.Call(http.StatusOK, "GET", keys, owner.AccessToken, nil).Items(t, &got)
		var listed scopedKey
		for _, x := range got {
			if x.ID == k.ID {
				listed = x
			}
			if x.Key != "" {
				t.Fatalf("listing shows a key: %+v", x)
			}
		}
		if listed.LastUsedAt == nil || time.Since(*listed.LastUsedAt) > time.Minute || listed.CreatedBy != bob.UserID {
			t.Fatalf("listed: %+v", listed)
		}
		h.Call(http.StatusOK, "GET", "/api/v1/orgs/"+o.ID+"/audit", k.Key, nil)
		if n := f.count(`SELECT count(*) FROM api_keys WHERE id = $1 AND last_used_at = $2`, k.ID, listed.LastUsedAt.UTC()); n != 1 {
			t.Fatalf("last use rewritten within the minute")
		}
		f.exec(`UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, db.Now().Add(-2*time.Minute), k.ID)
		h.Call(http.StatusOK, "GET", "/api/v1/workflows", k.Key, nil)
		if n := f.count(`SELECT count(*) FROM api_keys WHERE id = $1 AND last_used_at > $2`, k.ID, db.Now().Add(-time.Minute)); n != 1 {
			t.Fatalf("last use not recorded after a minute")
		}

		// Created and revoked are in the organization's audit log.
		h.Call(http.StatusOK, "DELETE", keys+"/"+k.ID, owner.AccessToken, nil)
		h.Call(http.StatusNotFound, "DELETE", keys+"/"+k.ID, owner.AccessToken, nil)
		r := h.Call(http.StatusUnauthorized, "GET", "/api/v1/workflows", k.Key, nil)
		if !strings.Contains(r.Body.Error.Message, "revoked or expired") {
			t.Fatalf("revoked key: %s", r.Raw)
		}
		if n := f.count(`SELECT count(*) FROM audit_logs WHERE organization_id = $1 AND resource_id = $2 AND user_id = $3 AND action = 'apikey.created'`, o.ID, k.ID, bob.UserID); n != 1 {
			t.Fatalf("creation audited %d times in the org's log", n)
		}
		if n := f.count(`SELECT count(*) FROM audit_logs WHERE organization_id = $1 AND resource_id = $2 AND user_id = $3 AND action = 'apikey.revoked'`, o.ID, k.ID, owner.UserID); n != 1 {
			t.Fatalf("revocation audited %d times in the org's log", n)
		}
		// What the key did is the key's, in the organization's log.
		if n := f.count(`SELECT count(*) FROM audit_logs WHERE organization_id = $1 AND user_id = $2 AND action = 'workflow.created'`, o.ID, k.ID); n != 1 {
			t.Fatalf("the key's own change audited %d times", n)
		}
		// A key of someone else's organization, or a personal one, is not revocable here.
		pk := newKey(t, h, "/api/v1/me/api-keys", owner.AccessToken)
		h.Call(http.StatusNotFound, "DELETE", keys+"/"+pk.ID, owner.AccessToken, nil)
		h.Call(http.StatusNotFound, "DELETE", "/api/v1/me/api-keys/"+star.ID, owner.AccessToken, nil)

		// Expiry: an expired key answers 401.
		exp := newKey(t, h, keys, owner.AccessToken, "workflows:read")
		h.Call(http.StatusOK, "GET", "/api/v1/workflows", exp.Key, nil)
		f.exec(`UPDATE api_keys SET expires_at = $1 WHERE id = $2`, db.Now().Add(-time.Second), exp.ID)
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/workflows", exp.Key, nil)
		var withExpiry scopedKey
		h.Call(http.StatusCreated, "POST", keys, owner.AccessToken, map[string]any{"name": "week", "scopes": []string{"read_only"}, "expiresInDays": 7}).Data(t, &withExpiry)
		if withExpiry.ExpiresAt == nil || time.Until(*withExpiry.ExpiresAt) < 6*24*time.Hour {
			t.Fatalf("expiry: %+v", withExpiry)
		}

		// The organization's deletion ends its keys.
		h.Call(http.StatusOK, "GET", "/api/v1/credits", star.Key, nil)
		h.Call(http.StatusOK, "DELETE", "/api/v1/orgs/"+o.ID, owner.AccessToken, nil)
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/credits", star.Key, nil)
	})
}

// TestOrgAPIKeys_ReachNoOtherWorkspace probes every owned resource of the
// isolation matrix in every other workspace — its creator's personal one
// included — with an organization's full-access key: nothing is read,
// listed or changed.
func TestOrgAPIKeys_ReachNoOtherWorkspace(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		t.Parallel()
		h := apptest.Start(t, url)
		wss := h.Workspaces(t)
		var home apptest.Workspace
		for _, ws := range wss {
			if ws.Name == "A org" {
				home = ws
			}
		}
		key := newKey(t, h, "/api/v1/orgs/"+home.OrgID+"/api-keys", home.User.AccessToken, "*").Key
		refused := func(r *apptest.Response) bool {
			return r.Status == http.StatusNotFound || r.Status == http.StatusForbidden
		}
		for _, k := range ownedKinds() {
			for _, owner := range wss {
				if owner.Name == home.Name {
					continue
				}
				vars := k.Create(t, h, owner)
				fill := func(p string) string {
					for n, v := range vars {
						p = strings.ReplaceAll(p, "{"+n+"}", v)
					}
					return p
				}
				snap := fill(k.Snapshot)
				if snap == "" {
					snap = fill(k.Read)
				}
				before := h.Call(http.StatusOK, "GET", snap, owner.Token, nil).Raw
				where := k.Name + " of " + owner.Name
				if k.Read != "" {
					if r := h.Do(apptest.Request{Method: "GET", Path: fill(k.Read), Token: key}); !refused(r) {
						t.Errorf("%s: the org key read it: %d %s", where, r.Status, r.Raw)
					}
				}
				if k.List != "" {
					if r := h.Do(apptest.Request{Method: "GET", Path: fill(k.List), Token: key}); r.Status == http.StatusOK && strings.Contains(string(r.Raw), vars["id"]) {
						t.Errorf("%s: the org key lists it", where)
					}
				}
				for _, p := range k.Writes {
					if r := h.Do(apptest.Request{Method: p.Method, Path: fill(p.Path), Token: key, Body: p.Body}); !refused(r) {
						t.Errorf("%s: the org key's %s %s answered %d %s", where, p.Method, p.Path, r.Status, r.Raw)
					}
				}
				if after := h.Call(http.StatusOK, "GET", snap, owner.Token, nil).Raw; string(after) != string(before) {
					t.Errorf("%s changed under the org key's probes", where)
				}
			}
		}
	})
}
