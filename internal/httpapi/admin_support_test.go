package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// SUPPORT reads accounts, their sessions and the audit log, and writes
// nothing an ordinary member cannot.
func TestAdminUsers_SupportReadsAndWritesNothing(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		super := h.Admin()
		sup := signUpAs(t, h, super.AccessToken, "support@example.com", "SUPPORT", "FREE").AccessToken
		u := h.SignUp("customer@example.com", pw)
		h.Login(u.Email, pw)
		h.Login(u.Email, pw)
		h.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+u.UserID+"/revoke-sessions", super.AccessToken, nil)
		again := h.Login(u.Email, pw)

		h.Call(http.StatusOK, "GET", "/api/v1/admin/users?q=customer", sup, nil)
		h.Call(http.StatusOK, "GET", "/api/v1/admin/users/"+u.UserID, sup, nil)
		h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?resourceId="+u.UserID, sup, nil)

		// The sessions, newest first, two per page, ended ones included.
		type sess struct {
			ID            string `json:"id"`
			Live          bool   `json:"live"`
			RevokedReason string `json:"revokedReason"`
		}
		var all []sess
		cursor := ""
		for pages := 0; ; pages++ {
			var page struct {
				Items      []sess `json:"items"`
				NextCursor string `json:"nextCursor"`
			}
			h.Call(http.StatusOK, "GET", "/api/v1/admin/users/"+u.UserID+"/sessions?limit=2&cursor="+cursor, sup, nil).Data(t, &page)
			all = append(all, page.Items...)
			if page.NextCursor == "" || pages > 5 {
				break
			}
			cursor = page.NextCursor
		}
		if len(all) != 4 {
			t.Fatalf("want 4 sessions over the pages, got %+v", all)
		}
		_, claims := tokenClaims(t, again.AccessToken)
		if all[0].ID != claims["sessionId"] || !all[0].Live {
			t.Errorf("newest session first and live: %+v (want %v)", all[0], claims["sessionId"])
		}
		for _, s := range all[1:] {
			if s.Live || s.RevokedReason != "revoked_by_admin" {
				t.Errorf("ended session shown as %+v", s)
			}
		}
		h.Call(http.StatusNotFound, "GET", "/api/v1/admin/users/usr_nope/sessions", sup, nil)
		h.Call(http.StatusBadRequest, "GET", "/api/v1/admin/users/"+u.UserID+"/sessions?limit=0", sup, nil)
		// A member reads none of it.
		h.Call(http.StatusForbidden, "GET", "/api/v1/admin/users/"+super.UserID+"/sessions", again.AccessToken, nil)

		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"PATCH", "/api/v1/admin/users/" + u.UserID, map[string]any{"plan": "PRO"}},
			{"DELETE", "/api/v1/admin/users/" + u.UserID, nil},
			{"POST", "/api/v1/admin/users/" + u.UserID + "/revoke-sessions", nil},
			{"POST", "/api/v1/admin/users/" + u.UserID + "/unlock", nil},
			{"POST", "/api/v1/admin/users/" + u.UserID + "/restore", nil},
			{"POST", "/api/v1/admin/users/" + u.UserID + "/impersonate", nil},
			{"GET", "/api/v1/admin/marketplace/versions", nil},
			{"PUT", "/api/v1/admin/marketplace/plugins/echo/featured", map[string]any{"featured": true}},
			{"POST", "/api/v1/admin/flags", map[string]any{"key": "x"}},
			{"POST", "/api/v1/admin/workspaces/" + u.UserID + "/credits", map[string]any{"amount": 1000, "reason": "x"}},
		} {
			r := h.Do(apptest.Request{Method: c.method, Path: c.path, Token: sup, Body: c.body})
			if r.Status != http.StatusForbidden {
				t.Errorf("SUPPORT %s %s: %d %s", c.method, c.path, r.Status, r.Raw)
			}
		}
	})
}
