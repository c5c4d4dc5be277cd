package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type meWithContext struct {
	ID           string  `json:"id"`
	PendingEmail *string `json:"pendingEmail"`
	Impersonator *struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"impersonator"`
}

// GET /me names the impersonating admin and the pending email change, and
// an impersonation session can end itself without touching the admin's.
func TestMe_ImpersonatorPendingEmailAndEndingImpersonation(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		super := h.Admin()
		u := h.SignUp("viewed@example.com", pw)

		var me meWithContext
		h.Call(http.StatusOK, "GET", "/api/v1/me", u.AccessToken, nil).Data(t, &me)
		if me.ID != u.UserID || me.PendingEmail != nil || me.Impersonator != nil {
			t.Fatalf("plain /me: %+v", me)
		}
		// Not an impersonation: nothing to end.
		h.Call(http.StatusBadRequest, "POST", "/api/v1/auth/impersonation/end", u.AccessToken, nil)

		h.Call(http.StatusOK, "PATCH", "/api/v1/me", u.AccessToken, map[string]any{"email": "moving@example.com", "currentPassword": pw})
		h.Call(http.StatusOK, "GET", "/api/v1/me", u.AccessToken, nil).Data(t, &me)
		if me.PendingEmail == nil || *me.PendingEmail != "moving@example.com" {
			t.Fatalf("pendingEmail: %+v", me)
		}

		var tok struct {
			AccessToken string `json:"accessToken"`
		}
		h.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+u.UserID+"/impersonate", super.AccessToken, nil).Data(t, &tok)
		me = meWithContext{}
		h.Call(http.StatusOK, "GET", "/api/v1/me", tok.AccessToken, nil).Data(t, &me)
		if me.ID != u.UserID || me.Impersonator == nil || me.Impersonator.ID != super.UserID ||
			me.Impersonator.Email != apptest.AdminEmail || me.Impersonator.Name == "" {
			t.Fatalf("impersonated /me: %+v", me)
		}

		h.Call(http.StatusOK, "POST", "/api/v1/auth/impersonation/end", tok.AccessToken, nil)
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/me", tok.AccessToken, nil)
		// The admin's own session and the user's are untouched.
		h.Call(http.StatusOK, "GET", "/api/v1/me", super.AccessToken, nil)
		h.Call(http.StatusOK, "GET", "/api/v1/me", u.AccessToken, nil)

		var page struct {
			Items []struct {
				UserID         string `json:"userId"`
				ImpersonatorID string `json:"impersonatorId"`
			} `json:"items"`
		}
		h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?action=admin.impersonation_ended", super.AccessToken, nil).Data(t, &page)
		if len(page.Items) != 1 || page.Items[0].ImpersonatorID != super.UserID {
			t.Fatalf("impersonation end not audited: %+v", page.Items)
		}
	})
}
