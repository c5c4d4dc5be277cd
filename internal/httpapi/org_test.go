package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type orgView struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Plan   string `json:"plan"`
	MyRole string `json:"myRole"`
}

type memberView struct {
	UserID       string `json:"userId"`
	Email        string `json:"email"`
	OrgRole      string `json:"orgRole"`
	DepartmentID string `json:"departmentId"`
}

func createOrg(t *testing.T, h *apptest.Harness, s apptest.Session, name string) orgView {
	t.Helper()
	var o orgView
	h.Call(http.StatusCreated, "POST", "/api/v1/orgs", s.AccessToken, map[string]string{"name": name}).Data(t, &o)
	return o
}

func switchTo(t *testing.T, h *apptest.Harness, s apptest.Session, orgID any) string {
	t.Helper()
	var tok struct{ AccessToken string }
	h.Call(http.StatusOK, "POST", "/api/v1/auth/switch", s.AccessToken, map[string]any{"organizationId": orgID}).Data(t, &tok)
	return tok.AccessToken
}

// invite invites email into org as role and returns the mailed token.
func invite(t *testing.T, h *apptest.Harness, by apptest.Session, orgID, email, role string, nth int) string {
	t.Helper()
	h.Call(http.StatusCreated, "POST", "/api/v1/orgs/"+orgID+"/invitations", by.AccessToken, map[string]string{"email": email, "orgRole": role})
	return apptest.TokenIn(t, h.WaitMailAbout(strings.ToLower(email), "invited", nth))
}

func members(t *testing.T, h *apptest.Harness, token, orgID string) map[string]memberView {
	t.Helper()
	var list []memberView
	h.Call(http.StatusOK, "GET", "/api/v1/orgs/"+orgID+"/members", token, nil).Items(t, &list)
	out := map[string]memberView{}
	for _, m := range list {
		out[m.UserID] = m
	}
	return out
}

func TestOrgs_InvitationsThroughTheMailedLink(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		owner := h.SignUp("owner@example.com", pw)
		bob := h.SignUp("bob@example.com", pw)
		o := createOrg(t, h, owner, "Acme")
		if o.MyRole != "ORG_OWNER" || o.Plan != "FREE" {
			t.Fatalf("new org: %+v", o)
		}

		// An existing account accepts while signed in with the invited address.
		tok := invite(t, h, owner, o.ID, "Bob@Example.com", "ORG_ADMIN", 1)
		mail := h.WaitMailAbout("bob@example.com", "invited", 1)
		if want := "https://switchboard.test/invitations/accept?token="; !contains(mail.Body, want) {
			t.Errorf("invitation mail lacks the public link: %s", mail.Body)
		}
		eve := h.SignUp("eve@example.com", pw)
		r := h.Call(http.StatusForbidden, "POST", "/api/v1/invitations/accept", eve.AccessToken, map[string]string{"token": tok})
		if !contains(r.Body.Error.Message, "bob@example.com") {
			t.Errorf("foreign accept message: %s", r.Raw)
		}
		// The failed attempt did not use the invitation up.
		var acc struct{ Organization orgView }
		h.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", bob.AccessToken, map[string]string{"token": tok}).Data(t, &acc)
		if acc.Organization.ID != o.ID || acc.Organization.MyRole != "ORG_ADMIN" {
			t.Fatalf("accepted: %+v", acc.Organization)
		}
		h.Call(http.StatusBadRequest, "POST", "/api/v1/invitations/accept", bob.AccessToken, map[string]string{"token": tok})
		// Inviting a member again is a conflict.
		h.Call(http.StatusConflict, "POST", "/api/v1/orgs/"+o.ID+"/invitations", owner.AccessToken, map[string]string{"email": "bob@example.com"})

		// A newcomer signs up through the link and is signed in at once.
		first := invite(t, h, owner, o.ID, "carol@example.com", "ORG_MEMBER", 1)
		second := invite(t, h, owner, o.ID, "carol@example.com", "ORG_MEMBER", 2) // re-inviting replaces the token
		h.Call(http.StatusBadRequest, "POST", "/api/v1/invitations/accept-signup", "", map[string]string{"token": first, "name": "Carol", "password": pw})
		h.Call(http.StatusBadRequest, "POST", "/api/v1/invitations/accept-signup", "", map[string]string{"token": second, "name": "Carol", "password": "short"})
		var carol struct {
			AccessToken string
			User        struct {
				ID            string
				EmailVerified bool
			}
		}
		h.Call(http.StatusCreated, "POST", "/api/v1/invitations/accept-signup", "", map[string]string{"token": second, "name": "Carol", "password": pw}).Data(t, &carol)
		if !carol.User.EmailVerified {
			t.Error("an account made through an invitation should count as verified")
		}
		ms := members(t, h, carol.AccessToken, o.ID)
		if len(ms) != 3 || ms[carol.User.ID].OrgRole != "ORG_MEMBER" || ms[bob.UserID].OrgRole != "ORG_ADMIN" {
			t.Fatalf("members: %+v", ms)
		}

		// Revoked and expired invitations do not work; pending ones are listed.
		revoked := invite(t, h, owner, o.ID, "dan@example.com", "ORG_MEMBER", 1)
		var pending []struct{ ID, Email string }
		h.Call(http.StatusOK, "GET", "/api/v1/orgs/"+o.ID+"/invitations?status=pending", owner.AccessToken, nil).Items(t, &pending)
		if len(pending) != 1 || pending[0].Email != "dan@example.com" {
			t.Fatalf("pending: %+v", pending)
		}
		h.Call(http.StatusOK, "DELETE", "/api/v1/orgs/"+o.ID+"/invitations/"+pending[0].ID, owner.AccessToken, nil)
		h.Call(http.StatusBadRequest, "POST", "/api/v1/invitations/accept-signup", "", map[string]string{"token": revoked, "password": pw})
		expired := invite(t, h, owner, o.ID, "erin@example.com", "ORG_MEMBER", 1)
		if _, err := h.App.DB.SQL().ExecContext(context.Background(),
			`UPDATE invitations SET expires_at = created_at WHERE lower(email) = 'erin@example.com'`); err != nil {
			t.Fatal(err)
		}
		h.Call(http.StatusBadRequest, "POST", "/api/v1/invitations/accept-signup", "", map[string]string{"token": expired, "password": pw})

		// Members cannot invite; only owners invite owners.
		h.Call(http.StatusForbidden, "POST", "/api/v1/orgs/"+o.ID+"/invitations", carol.AccessToken, map[string]string{"email": "x@example.com"})
		h.Call(http.StatusForbidden, "POST", "/api/v1/orgs/"+o.ID+"/invitations", bob.AccessToken, map[string]string{"email": "x@example.com", "orgRole": "ORG_OWNER"})
		h.Call(http.StatusBadRequest, "POST", "/api/v1/orgs/"+o.ID+"/invitations", owner.AccessToken, map[string]string{"email": "not-an-email"})
		h.Call(http.StatusBadRequest, "POST", "/api/v1/orgs/"+o.ID+"/invitations", owner.AccessToken, map[string]string{"email": "x@example.com", "orgRole": "KING"})

		// Everything above is in the org's audit log, readable by owners and admins only.
		var log struct{ Items []struct{ Action string } }
		h.Call(http.StatusOK, "GET", "/api/v1/orgs/"+o.ID+"/audit?limit=200", bob.AccessToken, nil).Data(t, &log)
		seen := map[string]int{}
		for _, it := range log.Items {
			seen[it.Action]++
		}
		if seen["org.created"] != 1 || seen["org.member_invited"] < 4 || seen["org.member_joined"] != 2 || seen["org.invitation_revoked"] != 1 {
			t.Fatalf("org audit: %v", seen)
		}
		h.Call(http.StatusForbidden, "GET", "/api/v1/orgs/"+o.ID+"/audit", carol.AccessToken, nil)
	})
}

func TestOrgs_RolesOwnersAndRemoval(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		owner := h.SignUp("owner@example.com", pw)
		bob := h.SignUp("bob@example.com", pw)
		o := createOrg(t, h, owner, "Acme")
		h.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", bob.AccessToken, map[string]string{"token": invite(t, h, owner, o.ID, bob.Email, "ORG_ADMIN", 1)})

		// The last owner can neither be demoted nor leave.
		h.Call(http.StatusConflict, "PATCH", "/api/v1/orgs/"+o.ID+"/members/"+owner.UserID, owner.AccessToken, map[string]string{"orgRole": "ORG_ADMIN"})
		h.Call(http.StatusConflict, "POST", "/api/v1/orgs/"+o.ID+"/leave", owner.AccessToken, nil)
		// An admin cannot make owners or touch one.
		h.Call(http.StatusForbidden, "PATCH", "/api/v1/orgs/"+o.ID+"/members/"+bob.UserID, bob.AccessToken, map[string]string{"orgRole": "ORG_OWNER"})
		h.Call(http.StatusForbidden, "DELETE", "/api/v1/orgs/"+o.ID+"/members/"+owner.UserID, bob.AccessToken, nil)
		h.Call(http.StatusBadRequest, "PATCH", "/api/v1/orgs/"+o.ID+"/members/"+bob.UserID, owner.AccessToken, map[string]string{"orgRole": "KING"})
		h.Call(http.StatusNotFound, "PATCH", "/api/v1/orgs/"+o.ID+"/members/usr_nobody", owner.AccessToken, map[string]string{"orgRole": "ORG_MEMBER"})

		// Bob acts in the org; when removed, that token stops at once while
		// his personal one keeps working.
		bobOrg := switchTo(t, h, bob, o.ID)
		claims := jwtPayload(t, bobOrg)
		if claims["organizationId"] != o.ID || claims["orgRole"] != "ORG_ADMIN" {
			t.Fatalf("org token claims: %v", claims)
		}
		h.Call(http.StatusOK, "GET", "/api/v1/orgs/"+o.ID+"/members", bobOrg, nil)
		h.Call(http.StatusOK, "DELETE", "/api/v1/orgs/"+o.ID+"/members/"+bob.UserID, owner.AccessToken, nil)
		r := h.Call(http.StatusUnauthorized, "GET", "/api/v1/me", bobOrg, nil)
		if !contains(r.Body.Error.Message, "no longer a member") {
			t.Errorf("removed member message: %s", r.Raw)
		}
		h.Call(http.StatusOK, "GET", "/api/v1/me", bob.AccessToken, nil)
		h.Call(http.StatusNotFound, "GET", "/api/v1/orgs/"+o.ID, bob.AccessToken, nil)
		// His refreshed session falls back to the personal workspace.
		var refreshed struct{ AccessToken string }
		h.Call(http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": bob.RefreshToken}).Data(t, &refreshed)
		if c := jwtPayload(t, refreshed.AccessToken); c["organizationId"] != nil {
			t.Errorf("refresh kept a dead org context: %v", c)
		}

		// Promote a second owner; then the first may step down and leave.
		h.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", bob.AccessToken, map[string]string{"token": invite(t, h, owner, o.ID, bob.Email, "ORG_MEMBER", 2)})
		var m memberView
		h.Call(http.StatusOK, "PATCH", "/api/v1/orgs/"+o.ID+"/members/"+bob.UserID, owner.AccessToken, map[string]string{"orgRole": "ORG_OWNER"}).Data(t, &m)
		if m.OrgRole != "ORG_OWNER" {
			t.Fatalf("promotion: %+v", m)
		}
		h.Call(http.StatusOK, "POST", "/api/v1/orgs/"+o.ID+"/leave", owner.AccessToken, nil)
		h.Call(http.StatusNotFound, "GET", "/api/v1/orgs/"+o.ID, owner.AccessToken, nil)
		// Acting on an org you left answers 404.
		h.Call(http.StatusNotFound, "PATCH", "/api/v1/orgs/"+o.ID, owner.AccessToken, map[string]string{"name": "mine again"})

		// Deleting: only an owner; members' org tokens stop.
		carol := h.SignUp("carol@example.com", pw)
		h.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", carol.AccessToken, map[string]string{"token": invite(t, h, bob, o.ID, carol.Email, "ORG_ADMIN", 1)})
		carolOrg := switchTo(t, h, carol, o.ID)
		h.Call(http.StatusForbidden, "DELETE", "/api/v1/orgs/"+o.ID, carol.AccessToken, nil)
		h.Call(http.StatusOK, "DELETE", "/api/v1/orgs/"+o.ID, bob.AccessToken, nil)
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/me", carolOrg, nil)
		var mine []orgView
		h.Call(http.StatusOK, "GET", "/api/v1/orgs", carol.AccessToken, nil).Items(t, &mine)
		if len(mine) != 0 {
			t.Fatalf("deleted org still listed: %+v", mine)
		}
	})
}

func TestOrgs_SwitchCarriesOrgRoleAndPlan(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		owner := h.SignUp("owner@example.com", pw)
		stranger := h.SignUp("stranger@example.com", pw)
		o := createOrg(t, h, owner, "Acme")
		if _, err := h.App.DB.SQL().ExecContext(context.Background(), `UPDATE organizations SET plan = 'BUSINESS' WHERE id = $1`, o.ID); err != nil {
			t.Fatal(err)
		}
		tok := switchTo(t, h, owner, o.ID)
		c := jwtPayload(t, tok)
		if c["organizationId"] != o.ID || c["orgRole"] != "ORG_OWNER" || c["plan"] != "BUSINESS" || c["sessionId"] != jwtPayload(t, owner.AccessToken)["sessionId"] {
			t.Fatalf("claims: %v", c)
		}
		// The session remembers: a refresh keeps the org context.
		var refreshed struct{ AccessToken string }
		h.Call(http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": owner.RefreshToken}).Data(t, &refreshed)
		if jwtPayload(t, refreshed.AccessToken)["organizationId"] != o.ID {
			t.Error("refresh lost the org context")
		}
		personal := switchTo(t, h, owner, nil)
		if c := jwtPayload(t, personal); c["organizationId"] != nil || c["plan"] != "FREE" {
			t.Fatalf("personal claims: %v", c)
		}
		h.Call(http.StatusNotFound, "POST", "/api/v1/auth/switch", stranger.AccessToken, map[string]any{"organizationId": o.ID})
		h.Call(http.StatusNotFound, "POST", "/api/v1/auth/switch", stranger.AccessToken, map[string]any{"organizationId": "garbage"})
		var key struct{ Key string }
		h.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", owner.AccessToken, map[string]string{"name": "k"}).Data(t, &key)
		h.Call(http.StatusBadRequest, "POST", "/api/v1/auth/switch", key.Key, map[string]any{"organizationId": o.ID})

		var log struct {
			Items []struct{ Action, OrganizationID string }
		}
		h.Call(http.StatusOK, "GET", "/api/v1/orgs/"+o.ID+"/audit?action=auth.workspace_switched", owner.AccessToken, nil).Data(t, &log)
		if len(log.Items) != 1 {
			t.Fatalf("switch not audited with the org: %+v", log.Items)
		}
	})
}

func TestOrgs_DepartmentsAndManagers(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		owner := h.SignUp("owner@example.com", pw)
		mgr := h.SignUp("mgr@example.com", pw)
		m1 := h.SignUp("m1@example.com", pw)
		m2 := h.SignUp("m2@example.com", pw)
		o := createOrg(t, h, owner, "Acme")
		for _, s := range []apptest.Session{mgr, m1, m2} {
			role := "ORG_MEMBER"
			if s.Email == mgr.Email {
				role = "DEPT_MANAGER"
			}
			h.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", s.AccessToken, map[string]string{"token": invite(t, h, owner, o.ID, s.Email, role, 1)})
		}
		var sales, ops struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/orgs/"+o.ID+"/departments", owner.AccessToken, map[string]string{"name": "Sales"}).Data(t, &sales)
		h.Call(http.StatusCreated, "POST", "/api/v1/orgs/"+o.ID+"/departments", owner.AccessToken, map[string]string{"name": "Ops"}).Data(t, &ops)
		h.Call(http.StatusConflict, "POST", "/api/v1/orgs/"+o.ID+"/departments", owner.AccessToken, map[string]string{"name": "sales"})
		h.Call(http.StatusBadRequest, "POST", "/api/v1/orgs/"+o.ID+"/departments", owner.AccessToken, map[string]string{"name": " "})
		h.Call(http.StatusForbidden, "POST", "/api/v1/orgs/"+o.ID+"/departments", mgr.AccessToken, map[string]string{"name": "Mine"})

		put := func(by apptest.Session, user string, dept any) *apptest.Response {
			return h.Do(apptest.Request{Method: "PUT", Path: "/api/v1/orgs/" + o.ID + "/members/" + user + "/department", Token: by.AccessToken, Body: map[string]any{"departmentId": dept}})
		}
		if r := put(owner, mgr.UserID, sales.ID); r.Status != 200 {
			t.Fatalf("assign manager: %s", r.Raw)
		}
		if r := put(owner, m2.UserID, ops.ID); r.Status != 200 {
			t.Fatalf("assign m2: %s", r.Raw)
		}
		// The manager brings an unassigned member into Sales…
		if r := put(mgr, m1.UserID, sales.ID); r.Status != 200 {
			t.Fatalf("manager assigns into own dept: %s", r.Raw)
		}
		// …but cannot move anyone into Ops or touch Ops' members.
		if r := put(mgr, m1.UserID, ops.ID); r.Status != 403 {
			t.Errorf("manager moved into another dept: %d", r.Status)
		}
		if r := put(mgr, m2.UserID, nil); r.Status != 403 {
			t.Errorf("manager touched another dept's member: %d", r.Status)
		}
		if r := put(m1, m1.UserID, nil); r.Status != 403 {
			t.Errorf("a member assigned departments: %d", r.Status)
		}
		if r := put(owner, m1.UserID, "dep_nope"); r.Status != 404 {
			t.Errorf("unknown department: %d", r.Status)
		}
		ms := members(t, h, owner.AccessToken, o.ID)
		if ms[m1.UserID].DepartmentID != sales.ID || ms[m2.UserID].DepartmentID != ops.ID {
			t.Fatalf("departments: %+v", ms)
		}
		// Deleting a department leaves its members in the org.
		h.Call(http.StatusOK, "PATCH", "/api/v1/orgs/"+o.ID+"/departments/"+ops.ID, owner.AccessToken, map[string]string{"name": "Operations"})
		h.Call(http.StatusOK, "DELETE", "/api/v1/orgs/"+o.ID+"/departments/"+ops.ID, owner.AccessToken, nil)
		ms = members(t, h, owner.AccessToken, o.ID)
		if m, ok := ms[m2.UserID]; !ok || m.DepartmentID != "" {
			t.Fatalf("after department delete: %+v", ms[m2.UserID])
		}
	})
}

// Every org permission against every org role, over HTTP.
func TestOrgs_PermissionsByOrgRole(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		owner := h.SignUp("owner@example.com", pw)
		o := createOrg(t, h, owner, "Acme")
		roles := []string{"ORG_OWNER", "ORG_ADMIN", "DEPT_MANAGER", "ORG_MEMBER"}
		users := map[string]apptest.Session{}
		for _, role := range roles {
			s := h.SignUp("u-"+role+"@example.com", pw)
			h.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", s.AccessToken, map[string]string{"token": invite(t, h, owner, o.ID, s.Email, role, 1)})
			users[role] = s
		}
		type probe struct {
			name    string
			method  string
			path    string
			body    any
			allowed map[string]bool
		}
		all := map[string]bool{"ORG_OWNER": true, "ORG_ADMIN": true, "DEPT_MANAGER": true, "ORG_MEMBER": true}
		admins := map[string]bool{"ORG_OWNER": true, "ORG_ADMIN": true}
		probes := []probe{
			{"read org", "GET", "/api/v1/orgs/" + o.ID, nil, all},
			{"list members (org:read)", "GET", "/api/v1/orgs/" + o.ID + "/members", nil, all},
			{"rename (org:manage)", "PATCH", "/api/v1/orgs/" + o.ID, map[string]string{"name": "Acme"}, admins},
			{"invite (org:members:invite)", "POST", "/api/v1/orgs/" + o.ID + "/invitations", map[string]string{"email": "new@example.com"}, admins},
			{"list invitations", "GET", "/api/v1/orgs/" + o.ID + "/invitations", nil, admins},
			{"read org audit (org:audit:read)", "GET", "/api/v1/orgs/" + o.ID + "/audit", nil, admins},
			{"list departments", "GET", "/api/v1/orgs/" + o.ID + "/departments", nil, all},
		}
		for _, p := range probes {
			for _, role := range roles {
				r := h.Do(apptest.Request{Method: p.method, Path: p.path, Token: users[role].AccessToken, Body: p.body})
				ok := r.Status >= 200 && r.Status < 300
				if ok != p.allowed[role] {
					t.Errorf("%s as %s: status %d, allowed=%v", p.name, role, r.Status, p.allowed[role])
				}
				if !ok && r.Status != http.StatusForbidden {
					t.Errorf("%s as %s: denied with %d, want 403", p.name, role, r.Status)
				}
			}
		}
		// Creating departments: owners and admins, in separate orgs' worth of names.
		for i, role := range roles {
			r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/orgs/" + o.ID + "/departments", Token: users[role].AccessToken,
				Body: map[string]string{"name": "Dept " + string(rune('A'+i))}})
			if (r.Status == http.StatusCreated) != admins[role] {
				t.Errorf("create department as %s: %d", role, r.Status)
			}
		}
		// Deleting the org (org:delete): only an owner; tried last.
		for _, role := range []string{"ORG_MEMBER", "DEPT_MANAGER", "ORG_ADMIN"} {
			h.Call(http.StatusForbidden, "DELETE", "/api/v1/orgs/"+o.ID, users[role].AccessToken, nil)
		}
		h.Call(http.StatusOK, "DELETE", "/api/v1/orgs/"+o.ID, users["ORG_OWNER"].AccessToken, nil)
	})
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// A member's own account events (a new address, a new password) are
// audited in their personal workspace, not in the organization's log
// that its admins read, whichever workspace the request was made in.
func TestOrgs_AccountEventsStayPersonal(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		owner := h.SignUp("private@example.com", pw)
		o := createOrg(t, h, owner, "Nosy")
		inOrg := switchTo(t, h, owner, o.ID)
		h.Call(http.StatusOK, "PATCH", "/api/v1/me", inOrg, map[string]string{"email": "private-new@example.com", "currentPassword": pw})
		h.Call(http.StatusOK, "POST", "/api/v1/me/password", inOrg, map[string]string{"currentPassword": pw, "newPassword": pw + "-2"})
		type page struct {
			Items []struct {
				Action   string
				Metadata map[string]any
			}
		}
		for _, action := range []string{"user.email_change_requested", "auth.password_changed"} {
			var org, mine page
			h.Call(http.StatusOK, "GET", "/api/v1/orgs/"+o.ID+"/audit?action="+action, inOrg, nil).Data(t, &org)
			if len(org.Items) != 0 {
				t.Errorf("the organization's log shows %s: %+v", action, org.Items)
			}
			personal := h.Login("private@example.com", pw+"-2").AccessToken
			h.Call(http.StatusOK, "GET", "/api/v1/audit?action="+action, personal, nil).Data(t, &mine)
			if len(mine.Items) != 1 {
				t.Errorf("the personal log shows %d %s rows, want 1", len(mine.Items), action)
			}
		}
	})
}
