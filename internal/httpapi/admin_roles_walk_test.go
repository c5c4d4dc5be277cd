package httpapi_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// supportReads are the /admin routes SUPPORT may call: it reads accounts,
// their sessions, the audit log and the system's state, and nothing else.
var supportReads = map[string]bool{
	"GET /api/v1/admin/users":               true,
	"GET /api/v1/admin/users/{id}":          true,
	"GET /api/v1/admin/users/{id}/sessions": true,
	"GET /api/v1/admin/audit":               true,
	"GET /api/v1/admin/audit/export":        true,
	"GET /api/v1/admin/audit/verify":        true,
	"GET /api/v1/admin/system":              true,
}

// Every /admin route the OpenAPI document lists — those added after this
// test included — refuses SUPPORT (except its reads), DEVELOPER and MEMBER
// with 403, before reading the body: the path ids are real ones, so a
// missing permission check would act rather than answer 404.
func TestAdminRoutes_EveryWriteRefusedBelowAdmin(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		super := h.Admin().AccessToken
		customer := h.SignUp("walk-customer@example.com", pw)
		roles := map[string]string{}
		for _, role := range []string{"SUPPORT", "DEVELOPER", "MEMBER"} {
			s := signUpAs(t, h, super, "walk-"+strings.ToLower(role)+"@example.com", role, "FREE")
			roles[role] = h.Login(s.Email, pw).AccessToken
		}
		var doc struct {
			Paths map[string]map[string]json.RawMessage `json:"paths"`
		}
		r := h.Do(apptest.Request{Method: "GET", Path: "/api/v1/openapi.json"})
		if r.Status != http.StatusOK || json.Unmarshal(r.Raw, &doc) != nil {
			t.Fatalf("openapi: %d", r.Status)
		}
		params := strings.NewReplacer("{id}", customer.UserID, "{key}", "walk-flag", "{slug}", "echo", "{version}", "1")
		var routes []string
		for path, ops := range doc.Paths {
			if !strings.HasPrefix(path, "/api/v1/admin/") {
				continue
			}
			for m := range ops {
				m = strings.ToUpper(m)
				switch m {
				case "GET", "POST", "PUT", "PATCH", "DELETE":
					routes = append(routes, m+" "+path)
				}
			}
		}
		sort.Strings(routes)
		if len(routes) < 20 {
			t.Fatalf("only %d admin routes in the OpenAPI document: %v", len(routes), routes)
		}
		for _, route := range routes {
			method, path, _ := strings.Cut(route, " ")
			for role, tok := range roles {
				want := http.StatusForbidden
				if role == "SUPPORT" && supportReads[route] {
					want = http.StatusOK
				}
				var body any
				if method != "GET" && method != "DELETE" {
					body = map[string]any{}
				}
				got := h.Do(apptest.Request{Method: method, Path: params.Replace(path), Token: tok, Body: body})
				if got.Status != want {
					t.Errorf("%s as %s: %d %s (want %d)", route, role, got.Status, got.Raw, want)
				}
			}
		}
		// Submitting to the marketplace is DEVELOPER and up.
		for _, route := range []string{"POST /api/v1/marketplace/submissions", "GET /api/v1/marketplace/submissions"} {
			method, path, _ := strings.Cut(route, " ")
			for role, tok := range roles {
				got := h.Do(apptest.Request{Method: method, Path: path, Token: tok})
				if refused := got.Status == http.StatusForbidden; refused != (role != "DEVELOPER") {
					t.Errorf("%s as %s: %d %s", route, role, got.Status, got.Raw)
				}
			}
		}
		// Nothing changed the customer's account.
		var u struct {
			Role     string `json:"role"`
			Plan     string `json:"plan"`
			IsActive bool   `json:"isActive"`
		}
		h.Call(http.StatusOK, "GET", "/api/v1/admin/users/"+customer.UserID, super, nil).Data(t, &u)
		if u.Role != "MEMBER" || u.Plan != "FREE" || !u.IsActive {
			t.Errorf("customer after the walk: %+v", u)
		}
	})
}
