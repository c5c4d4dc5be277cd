package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// An organization's balance is the organization's: every member reads it,
// only an ORG_OWNER changes its settings, and it is not the owner's
// personal balance.
func TestCredits_OrgBalanceReadByMembersManagedByOwner(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		owner := h.SignUp("owner@example.com", pw)
		o := createOrg(t, h, owner, "Acme")
		tokens := map[string]string{"ORG_OWNER": switchTo(t, h, owner, o.ID)}
		for _, role := range []string{"ORG_ADMIN", "DEPT_MANAGER", "ORG_MEMBER"} {
			s := h.SignUp("m-"+role+"@example.com", pw)
			h.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", s.AccessToken, map[string]string{"token": invite(t, h, owner, o.ID, s.Email, role, 1)})
			tokens[role] = switchTo(t, h, s, o.ID)
		}
		admin := h.Admin()
		h.Call(http.StatusCreated, "POST", "/api/v1/admin/workspaces/"+o.ID+"/credits", admin.AccessToken,
			map[string]any{"amount": 5000, "type": "grant", "reason": "welcome"})

		for role, tok := range tokens {
			var b struct{ Balance int64 }
			h.Call(http.StatusOK, "GET", "/api/v1/credits", tok, nil).Data(t, &b)
			if b.Balance != 5000 {
				t.Errorf("%s reads balance %d, want the org's 5000", role, b.Balance)
			}
			r := h.Do(apptest.Request{Method: "PUT", Path: "/api/v1/credits/settings", Token: tok, Body: map[string]any{"overageEnabled": true}})
			want := http.StatusForbidden
			if role == "ORG_OWNER" {
				want = http.StatusOK
			}
			if r.Status != want {
				t.Errorf("%s changing settings: %d %s, want %d", role, r.Status, r.Raw, want)
			}
		}
		// The owner's personal balance is untouched by the org's grant.
		var personal struct{ Balance int64 }
		h.Call(http.StatusOK, "GET", "/api/v1/credits", owner.AccessToken, nil).Data(t, &personal)
		if personal.Balance != 0 {
			t.Errorf("personal balance %d, want 0", personal.Balance)
		}
	})
}
