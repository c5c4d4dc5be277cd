package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type invitationRow struct {
	ID, Email, Status string
}

func invitationsByEmail(t *testing.T, h *apptest.Harness, token, orgID, query string) map[string]invitationRow {
	t.Helper()
	var list []invitationRow
	h.Call(http.StatusOK, "GET", "/api/v1/orgs/"+orgID+"/invitations"+query, token, nil).Items(t, &list)
	out := map[string]invitationRow{}
	for _, inv := range list {
		out[inv.Email] = inv
	}
	return out
}

// The list keeps accepted, revoked and expired invitations with their
// status; resending an invitation mails a new link and voids the old one.
func TestOrgs_InvitationStatusAndResend(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		owner := h.SignUp("owner@example.com", pw)
		bob := h.SignUp("bob@example.com", pw)
		o := createOrg(t, h, owner, "Acme")

		h.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", bob.AccessToken,
			map[string]string{"token": invite(t, h, owner, o.ID, "bob@example.com", "ORG_MEMBER", 1)})
		invite(t, h, owner, o.ID, "dan@example.com", "ORG_MEMBER", 1)
		oldErin := invite(t, h, owner, o.ID, "erin@example.com", "ORG_MEMBER", 1)
		invite(t, h, owner, o.ID, "fay@example.com", "ORG_MEMBER", 1)
		all := invitationsByEmail(t, h, owner.AccessToken, o.ID, "")
		h.Call(http.StatusOK, "DELETE", "/api/v1/orgs/"+o.ID+"/invitations/"+all["dan@example.com"].ID, owner.AccessToken, nil)
		if _, err := h.App.DB.SQL().ExecContext(context.Background(),
			`UPDATE invitations SET expires_at = created_at WHERE lower(email) = 'erin@example.com'`); err != nil {
			t.Fatal(err)
		}
		all = invitationsByEmail(t, h, owner.AccessToken, o.ID, "")
		want := map[string]string{"bob@example.com": "accepted", "dan@example.com": "revoked", "erin@example.com": "expired", "fay@example.com": "pending"}
		for email, st := range want {
			if all[email].Status != st {
				t.Errorf("%s: status %q, want %q (%+v)", email, all[email].Status, st, all)
			}
		}
		if exp := invitationsByEmail(t, h, owner.AccessToken, o.ID, "?status=expired"); len(exp) != 1 || exp["erin@example.com"].ID == "" {
			t.Errorf("status=expired: %+v", exp)
		}
		h.Call(http.StatusBadRequest, "GET", "/api/v1/orgs/"+o.ID+"/invitations?status=lost", owner.AccessToken, nil)

		// Only who may invite resends; accepted and revoked ones cannot be.
		h.Call(http.StatusForbidden, "POST", "/api/v1/orgs/"+o.ID+"/invitations/"+all["erin@example.com"].ID+"/resend", bob.AccessToken, nil)
		h.Call(http.StatusConflict, "POST", "/api/v1/orgs/"+o.ID+"/invitations/"+all["bob@example.com"].ID+"/resend", owner.AccessToken, nil)
		h.Call(http.StatusConflict, "POST", "/api/v1/orgs/"+o.ID+"/invitations/"+all["dan@example.com"].ID+"/resend", owner.AccessToken, nil)
		h.Call(http.StatusNotFound, "POST", "/api/v1/orgs/"+o.ID+"/invitations/inv_nope/resend", owner.AccessToken, nil)
		// One just mailed waits a minute.
		h.Call(http.StatusTooManyRequests, "POST", "/api/v1/orgs/"+o.ID+"/invitations/"+all["fay@example.com"].ID+"/resend", owner.AccessToken, nil)

		var inv invitationRow
		h.Call(http.StatusOK, "POST", "/api/v1/orgs/"+o.ID+"/invitations/"+all["erin@example.com"].ID+"/resend", owner.AccessToken, nil).Data(t, &inv)
		if inv.Status != "pending" || inv.ID != all["erin@example.com"].ID {
			t.Fatalf("resent: %+v", inv)
		}
		newErin := apptest.TokenIn(t, h.WaitMailAbout("erin@example.com", "invited", 2))
		if newErin == oldErin {
			t.Fatal("the resent invitation kept its token")
		}
		h.Call(http.StatusBadRequest, "POST", "/api/v1/invitations/accept-signup", "", map[string]string{"token": oldErin, "name": "Erin", "password": pw})
		h.Call(http.StatusCreated, "POST", "/api/v1/invitations/accept-signup", "", map[string]string{"token": newErin, "name": "Erin", "password": pw})
		if st := invitationsByEmail(t, h, owner.AccessToken, o.ID, "")["erin@example.com"].Status; st != "accepted" {
			t.Errorf("erin after accepting: %s", st)
		}
		var page struct{ Items []struct{ ResourceID string } }
		h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?action=org.invitation_resent", h.Admin().AccessToken, nil).Data(t, &page)
		if len(page.Items) != 1 || page.Items[0].ResourceID != inv.ID {
			t.Errorf("resend not audited: %+v", page.Items)
		}
	})
}
