package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

const pw = "correct horse battery"

type userView struct {
	ID          string  `json:"id"`
	Email       string  `json:"email"`
	Role        string  `json:"role"`
	Plan        string  `json:"plan"`
	IsActive    bool    `json:"isActive"`
	DeletedAt   *string `json:"deletedAt"`
	LockedUntil *string `json:"lockedUntil"`
}

func TestAdminUsers_ListSearchAndPaginate(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		admin := h.Admin()
		for _, e := range []string{"alpha@example.com", "beta@example.com", "gamma@example.com"} {
			h.Call(http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{"email": e, "password": pw})
		}
		var all []userView
		cursor := ""
		for {
			r := h.Call(http.StatusOK, "GET", "/api/v1/admin/users?limit=2&cursor="+cursor, admin.AccessToken, nil)
			var page struct {
				Items      []userView `json:"items"`
				NextCursor string     `json:"nextCursor"`
			}
			r.Data(t, &page)
			if len(page.Items) > 2 {
				t.Fatalf("page of %d items, limit 2", len(page.Items))
			}
			all = append(all, page.Items...)
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if len(all) != 4 { // three users and the admin
			t.Fatalf("paged through %d users, want 4", len(all))
		}
		var found struct{ Items []userView }
		h.Call(http.StatusOK, "GET", "/api/v1/admin/users?q=BETA", admin.AccessToken, nil).Data(t, &found)
		if len(found.Items) != 1 || found.Items[0].Email != "beta@example.com" {
			t.Fatalf("search for BETA: %+v", found.Items)
		}
		h.Call(http.StatusOK, "GET", "/api/v1/admin/users?role=SUPER_ADMIN", admin.AccessToken, nil).Data(t, &found)
		if len(found.Items) != 1 || found.Items[0].Email != apptest.AdminEmail {
			t.Fatalf("role filter: %+v", found.Items)
		}
		for _, q := range []string{"role=KING", "plan=GOLD", "active=maybe", "deleted=sometimes", "limit=0", "limit=500"} {
			r := h.Call(http.StatusBadRequest, "GET", "/api/v1/admin/users?"+q, admin.AccessToken, nil)
			if r.Code() != "VALIDATION_ERROR" {
				t.Errorf("%s: code %s", q, r.Code())
			}
		}
	})
}

func TestAdminUsers_NonAdminsAreForbiddenAndAudited(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		u := h.SignUp("user@example.com", pw)
		r := h.Call(http.StatusForbidden, "GET", "/api/v1/admin/users?q=secret-probe", u.AccessToken, nil)
		if r.Code() != "FORBIDDEN" {
			t.Fatalf("code %s", r.Code())
		}
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/admin/users", "", nil)

		admin := h.Admin()
		var page struct {
			Items []struct {
				UserID   string         `json:"userId"`
				Action   string         `json:"action"`
				Status   string         `json:"status"`
				Metadata map[string]any `json:"metadata"`
			} `json:"items"`
		}
		h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?action=admin.request&status=failure", admin.AccessToken, nil).Data(t, &page)
		var forbidden, anonymous bool
		for _, it := range page.Items {
			if it.UserID == u.UserID && it.Metadata["status"] == float64(403) && it.Metadata["method"] == "GET" &&
				it.Metadata["path"] == "/api/v1/admin/users" {
				q, _ := it.Metadata["query"].(map[string]any)
				if q["q"] != nil {
					forbidden = true
				}
				if _, ok := it.Metadata["durationMs"].(float64); !ok {
					t.Errorf("admin request row lacks durationMs: %v", it.Metadata)
				}
			}
			if it.UserID == "" && it.Metadata["status"] == float64(401) {
				anonymous = true
			}
		}
		if !forbidden || !anonymous {
			t.Fatalf("admin requests not audited (403 by user: %v, 401 anonymous: %v): %+v", forbidden, anonymous, page.Items)
		}
	})
}

func TestAdminUsers_RoleAndPlanRules(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		super := h.Admin()
		u := h.SignUp("u@example.com", pw)
		a := h.SignUp("a@example.com", pw)

		// SUPER_ADMIN makes a an ADMIN; the change takes effect on a's next
		// request with the token a already holds.
		h.Call(http.StatusForbidden, "GET", "/api/v1/admin/users", a.AccessToken, nil)
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+a.UserID, super.AccessToken, map[string]any{"role": "ADMIN"})
		h.Call(http.StatusOK, "GET", "/api/v1/admin/users", a.AccessToken, nil)

		// An ADMIN may change a MEMBER's plan and role below admin…
		var got userView
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+u.UserID, a.AccessToken, map[string]any{"plan": "PRO", "role": "DEVELOPER"}).Data(t, &got)
		if got.Plan != "PRO" || got.Role != "DEVELOPER" {
			t.Fatalf("after update: %+v", got)
		}
		// …but cannot grant ADMIN, touch the SUPER_ADMIN, or change itself.
		h.Call(http.StatusForbidden, "PATCH", "/api/v1/admin/users/"+u.UserID, a.AccessToken, map[string]any{"role": "ADMIN"})
		h.Call(http.StatusForbidden, "PATCH", "/api/v1/admin/users/"+super.UserID, a.AccessToken, map[string]any{"plan": "FREE"})
		h.Call(http.StatusForbidden, "PATCH", "/api/v1/admin/users/"+a.UserID, a.AccessToken, map[string]any{"plan": "ENTERPRISE"})
		// Bad values and empty patches.
		for _, body := range []any{map[string]any{"role": "KING"}, map[string]any{"plan": "GOLD"}, map[string]any{}, map[string]any{"isActive": "yes"}} {
			h.Call(http.StatusBadRequest, "PATCH", "/api/v1/admin/users/"+u.UserID, super.AccessToken, body)
		}
		h.Call(http.StatusNotFound, "PATCH", "/api/v1/admin/users/usr_nope", super.AccessToken, map[string]any{"plan": "PRO"})

		// The JWT carries the plan at issue time; the actor reads it fresh.
		var me userView
		h.Call(http.StatusOK, "GET", "/api/v1/me", u.AccessToken, nil).Data(t, &me)
		if me.Plan != "PRO" {
			t.Fatalf("user sees plan %s", me.Plan)
		}

		// Role and plan changes are audited with from/to.
		var page struct {
			Items []struct {
				Action, ResourceID string
				Metadata           map[string]any
			} `json:"items"`
		}
		h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?resourceId="+u.UserID, super.AccessToken, nil).Data(t, &page)
		seen := map[string]bool{}
		for _, it := range page.Items {
			seen[it.Action] = true
			if it.Action == "admin.user_plan_changed" && (it.Metadata["from"] != "FREE" || it.Metadata["to"] != "PRO") {
				t.Errorf("plan change metadata %v", it.Metadata)
			}
		}
		if !seen["admin.user_plan_changed"] || !seen["admin.user_role_changed"] {
			t.Fatalf("missing audit rows: %v", seen)
		}
	})
}

func TestAdminUsers_DeactivateDeleteRestoreRevokeUnlock(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		super := h.Admin()
		u := h.SignUp("victim@example.com", pw)

		// Deactivation ends sessions at once and blocks login.
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+u.UserID, super.AccessToken, map[string]any{"isActive": false})
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/me", u.AccessToken, nil)
		h.Call(http.StatusUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"email": u.Email, "password": pw})
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+u.UserID, super.AccessToken, map[string]any{"isActive": true})
		u = h.Login(u.Email, pw)

		// Revoke sessions.
		var rev struct{ Revoked int64 }
		h.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+u.UserID+"/revoke-sessions", super.AccessToken, nil).Data(t, &rev)
		if rev.Revoked != 1 {
			t.Fatalf("revoked %d sessions, want 1", rev.Revoked)
		}
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/me", u.AccessToken, nil)

		// Unlock clears a lockout.
		if _, err := h.App.DB.SQL().ExecContext(context.Background(),
			`UPDATE users SET locked_until = $1, failed_login_count = 0 WHERE id = $2`, "2999-01-01 00:00:00+00:00", u.UserID); err != nil {
			// PostgreSQL wants a real timestamp literal; the string form above suits both.
			t.Fatal(err)
		}
		h.Call(http.StatusUnauthorized, "POST", "/api/v1/auth/login", "", map[string]string{"email": u.Email, "password": pw})
		var unlocked userView
		h.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+u.UserID+"/unlock", super.AccessToken, nil).Data(t, &unlocked)
		if unlocked.LockedUntil != nil {
			t.Fatalf("still locked: %+v", unlocked)
		}
		u = h.Login(u.Email, pw)

		// An ADMIN cannot delete; a SUPER_ADMIN can, and restore.
		a := h.SignUp("admin2@example.com", pw)
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+a.UserID, super.AccessToken, map[string]any{"role": "ADMIN"})
		h.Call(http.StatusForbidden, "DELETE", "/api/v1/admin/users/"+u.UserID, a.AccessToken, nil)
		// Unlocking keeps the hierarchy: an ADMIN unlocks a member, but not
		// a SUPER_ADMIN nor itself (else a lockout would stop no guessing).
		a = h.Login("admin2@example.com", pw)
		h.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+u.UserID+"/unlock", a.AccessToken, nil)
		h.Call(http.StatusForbidden, "POST", "/api/v1/admin/users/"+super.UserID+"/unlock", a.AccessToken, nil)
		h.Call(http.StatusForbidden, "POST", "/api/v1/admin/users/"+a.UserID+"/unlock", a.AccessToken, nil)
		h.Call(http.StatusOK, "DELETE", "/api/v1/admin/users/"+u.UserID, super.AccessToken, nil)
		h.Call(http.StatusConflict, "DELETE", "/api/v1/admin/users/"+u.UserID, super.AccessToken, nil)
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/me", u.AccessToken, nil)
		var listed struct{ Items []userView }
		h.Call(http.StatusOK, "GET", "/api/v1/admin/users?deleted=only", super.AccessToken, nil).Data(t, &listed)
		if len(listed.Items) != 1 || listed.Items[0].ID != u.UserID || listed.Items[0].DeletedAt == nil {
			t.Fatalf("deleted=only: %+v", listed.Items)
		}
		var restored userView
		h.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+u.UserID+"/restore", super.AccessToken, nil).Data(t, &restored)
		if restored.DeletedAt != nil {
			t.Fatalf("restore left deletedAt: %+v", restored)
		}
		h.Login(u.Email, pw)

		// A restore fails cleanly when the email was taken meanwhile.
		h.Call(http.StatusOK, "DELETE", "/api/v1/admin/users/"+u.UserID, super.AccessToken, nil)
		h.SignUp(u.Email, pw)
		r := h.Call(http.StatusConflict, "POST", "/api/v1/admin/users/"+u.UserID+"/restore", super.AccessToken, nil)
		if !strings.Contains(r.Body.Error.Message, u.Email) {
			t.Errorf("conflict message %q does not name the email", r.Body.Error.Message)
		}
	})
}

func TestAdminUsers_Impersonation(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		super := h.Admin()
		u := h.SignUp("target@example.com", pw)
		a := h.SignUp("admin@example.com", pw)
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+a.UserID, super.AccessToken, map[string]any{"role": "ADMIN"})

		// Only a SUPER_ADMIN impersonates, never themselves or another SUPER_ADMIN.
		h.Call(http.StatusForbidden, "POST", "/api/v1/admin/users/"+u.UserID+"/impersonate", a.AccessToken, nil)
		h.Call(http.StatusBadRequest, "POST", "/api/v1/admin/users/"+super.UserID+"/impersonate", super.AccessToken, nil)
		super2 := h.SignUp("super2@example.com", pw)
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+super2.UserID, super.AccessToken, map[string]any{"role": "SUPER_ADMIN"})
		h.Call(http.StatusForbidden, "POST", "/api/v1/admin/users/"+super2.UserID+"/impersonate", super.AccessToken, nil)

		var tok struct {
			AccessToken  string `json:"accessToken"`
			RefreshToken string `json:"refreshToken"`
			ExpiresIn    int    `json:"expiresIn"`
		}
		h.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+u.UserID+"/impersonate", super.AccessToken, nil).Data(t, &tok)
		if tok.RefreshToken != "" || tok.ExpiresIn > 900 || tok.ExpiresIn <= 0 {
			t.Fatalf("impersonation token: refresh %q, expiresIn %d", tok.RefreshToken, tok.ExpiresIn)
		}
		claims := jwtPayload(t, tok.AccessToken)
		if claims["impersonatorId"] != super.UserID || claims["userId"] != u.UserID {
			t.Fatalf("claims %v", claims)
		}
		var me userView
		h.Call(http.StatusOK, "GET", "/api/v1/me", tok.AccessToken, nil).Data(t, &me)
		if me.ID != u.UserID {
			t.Fatalf("impersonated /me is %s", me.ID)
		}
		// Acting as the user records the impersonator on every row.
		h.Call(http.StatusOK, "PATCH", "/api/v1/me", tok.AccessToken, map[string]any{"name": "Changed by support"})
		// The impersonation cannot escalate: no API keys, no account deletion.
		h.Call(http.StatusForbidden, "POST", "/api/v1/me/api-keys", tok.AccessToken, map[string]any{"name": "x"})
		h.Call(http.StatusForbidden, "DELETE", "/api/v1/me", tok.AccessToken, nil)

		var page struct {
			Items []struct {
				Action         string `json:"action"`
				UserID         string `json:"userId"`
				ImpersonatorID string `json:"impersonatorId"`
			} `json:"items"`
		}
		h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?userId="+u.UserID+"&action=user.updated", super.AccessToken, nil).Data(t, &page)
		if len(page.Items) != 1 || page.Items[0].ImpersonatorID != super.UserID {
			t.Fatalf("impersonated change not attributed: %+v", page.Items)
		}
		h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?action=admin.impersonation_started", super.AccessToken, nil).Data(t, &page)
		if len(page.Items) != 1 || page.Items[0].UserID != super.UserID {
			t.Fatalf("impersonation start not audited: %+v", page.Items)
		}
		// The user sees what was done as them, with the impersonator named.
		h.Call(http.StatusOK, "GET", "/api/v1/audit?action=user.updated", u.AccessToken, nil).Data(t, &page)
		if len(page.Items) != 1 || page.Items[0].ImpersonatorID != super.UserID {
			t.Fatalf("user's own audit: %+v", page.Items)
		}
		// Revoking the target's sessions ends the impersonation too.
		h.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+u.UserID+"/revoke-sessions", super.AccessToken, nil)
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/me", tok.AccessToken, nil)
	})
}

func jwtPayload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := decodeSegment(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
