package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
)

// accountRoutes are every request that manages an account — its email,
// password, keys, factors, existence, re-authentication — each with the
// body an attacker would try first (often none at all: the credential is
// refused before the body is read).
func accountRoutes(orgID string) []apptest.Request {
	return []apptest.Request{
		{Method: "PATCH", Path: "/api/v1/me", Body: map[string]any{"email": "taken@example.com"}},
		{Method: "PATCH", Path: "/api/v1/me", Body: map[string]any{"email": "taken@example.com", "currentPassword": authPassword}},
		{Method: "PATCH", Path: "/api/v1/me", Body: map[string]any{"email": "not an address"}},
		{Method: "POST", Path: "/api/v1/me/password", Body: map[string]any{}},
		{Method: "POST", Path: "/api/v1/me/password", Body: map[string]any{"currentPassword": authPassword, "newPassword": "another long passphrase"}},
		{Method: "POST", Path: "/api/v1/me/api-keys", Body: map[string]any{}},
		{Method: "POST", Path: "/api/v1/me/api-keys", Body: map[string]any{"name": "more", "scopes": []string{"*"}}},
		{Method: "POST", Path: "/api/v1/orgs/" + orgID + "/api-keys", Body: map[string]any{}},
		{Method: "POST", Path: "/api/v1/orgs/" + orgID + "/api-keys", Body: map[string]any{"name": "more", "scopes": []string{"*"}}},
		{Method: "DELETE", Path: "/api/v1/me"},
		{Method: "POST", Path: "/api/v1/me/2fa/totp"},
		{Method: "POST", Path: "/api/v1/me/2fa/totp/confirm", Body: map[string]any{"code": "123456"}},
		{Method: "DELETE", Path: "/api/v1/me/2fa/totp"},
		{Method: "POST", Path: "/api/v1/me/2fa/recovery-codes"},
		{Method: "POST", Path: "/api/v1/me/passkeys/register/begin"},
		{Method: "POST", Path: "/api/v1/me/passkeys/register/finish", Body: map[string]any{}},
		{Method: "PATCH", Path: "/api/v1/me/passkeys/pk_01jzzzzzzzzzzzzzzzzzzzzzzz", Body: map[string]any{"name": "x"}},
		{Method: "DELETE", Path: "/api/v1/me/passkeys/pk_01jzzzzzzzzzzzzzzzzzzzzzzz"},
		{Method: "POST", Path: "/api/v1/auth/reauth", Body: map[string]any{"password": authPassword}},
	}
}

// A personal API key, an organization's API key and an impersonation
// session are each refused every account-management request with 403
// FORBIDDEN, whatever the body: none of them can take an account over.
func TestCredentials_NoProgramOrImpersonatorManagesTheAccount(t *testing.T) {
	runAuth(t, func(f authFlow) {
		u := f.SignUp("walked@example.com", authPassword)
		var o struct{ ID string }
		f.Call(http.StatusCreated, "POST", "/api/v1/orgs", u.AccessToken, map[string]string{"name": "Walked"}).Data(f.t, &o)
		var sw struct{ AccessToken string }
		f.Call(http.StatusOK, "POST", "/api/v1/auth/switch", u.AccessToken, map[string]any{"organizationId": o.ID}).Data(f.t, &sw)
		var orgKey struct{ Key string }
		f.Call(http.StatusCreated, "POST", "/api/v1/orgs/"+o.ID+"/api-keys", sw.AccessToken,
			map[string]any{"name": "org program", "scopes": []string{"*"}}).Data(f.t, &orgKey)
		creds := map[string]string{
			"personal API key": f.createKey(u.AccessToken, "program").Key,
			"org API key":      orgKey.Key,
			"impersonation":    f.impersonate(f.Admin().AccessToken, u.UserID),
		}
		for name, tok := range creds {
			for _, req := range accountRoutes(o.ID) {
				req.Token = tok
				r := f.Do(req)
				if r.Status != http.StatusForbidden || r.Code() != "FORBIDDEN" {
					f.t.Errorf("%s: %s %s %v: %d %s", name, req.Method, req.Path, req.Body, r.Status, r.Raw)
				}
			}
		}
		// Nothing changed: the password signs in, the email is the same,
		// the keys are the two made above.
		s := f.Login(u.Email, authPassword)
		var me meView
		f.Call(http.StatusOK, "GET", "/api/v1/me", s.AccessToken, nil).Data(f.t, &me)
		if me.Email != u.Email {
			f.t.Errorf("email is %s", me.Email)
		}
		if _, list := f.keys(s.AccessToken); len(list) != 1 {
			f.t.Errorf("personal keys after the walk: %+v", list)
		}
	})
}
