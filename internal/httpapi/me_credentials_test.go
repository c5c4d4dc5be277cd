package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
)

// accountChanges are the account-management calls only the signed-in
// account holder may make.
func accountChanges(newEmail string) []apptest.Request {
	return []apptest.Request{
		{Method: "PATCH", Path: "/api/v1/me", Body: map[string]any{"email": newEmail, "currentPassword": authPassword}},
		{Method: "POST", Path: "/api/v1/me/password", Body: map[string]any{"currentPassword": authPassword, "newPassword": "another long passphrase"}},
		{Method: "POST", Path: "/api/v1/me/api-keys", Body: map[string]any{"name": "more"}},
		{Method: "DELETE", Path: "/api/v1/me"},
	}
}

func TestAPIKeys_CannotManageTheAccount(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "program@example.com"
		s := f.SignUp(email, authPassword)
		k := f.createKey(s.AccessToken, "ci")
		for _, req := range accountChanges("stolen@example.com") {
			req.Token = k.Key
			r := f.Do(req)
			if r.Status != http.StatusForbidden || r.Code() != "FORBIDDEN" {
				f.t.Errorf("API key %s %s: %d %s", req.Method, req.Path, r.Status, r.Raw)
			}
		}
		// Nothing changed: same email, same password, one key, live account.
		var me meView
		f.Call(http.StatusOK, "GET", "/api/v1/me", k.Key, nil).Data(f.t, &me)
		if me.Email != email {
			f.t.Fatalf("email changed by an API key: %s", me.Email)
		}
		f.Login(email, authPassword)
		if _, list := f.keys(s.AccessToken); len(list) != 1 {
			f.t.Fatalf("keys after refused creation: %+v", list)
		}
		// A key may still do what programs do, like renaming the account.
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", k.Key, map[string]any{"name": "Bot-managed"})
	})
}

func TestAPIKeys_RevokedByResetAdminRevokeAndDeactivation(t *testing.T) {
	runAuth(t, func(f authFlow) {
		root := f.Admin().AccessToken

		// A password reset by mail revokes the keys.
		reset := f.SignUp("reset-keys@example.com", authPassword)
		rk := f.createKey(reset.AccessToken, "ci")
		f.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": reset.Email})
		token := apptest.TokenIn(f.t, f.mailWith(reset.Email, resetSubject))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/password/reset", "", map[string]string{"token": token, "password": "a brand new passphrase"})
		if st := f.status("/api/v1/me", rk.Key); st != http.StatusUnauthorized {
			f.t.Errorf("API key after a password reset: %d", st)
		}

		// An admin's "revoke sessions" revokes them, and says which.
		rev := f.SignUp("revoke-keys@example.com", authPassword)
		vk := f.createKey(rev.AccessToken, "deploy")
		var out struct {
			Revoked        int64 `json:"revoked"`
			APIKeysRevoked []struct {
				ID, Name string
			} `json:"apiKeysRevoked"`
		}
		f.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+rev.UserID+"/revoke-sessions", root, nil).Data(f.t, &out)
		if out.Revoked != 1 || len(out.APIKeysRevoked) != 1 || out.APIKeysRevoked[0].ID != vk.ID || out.APIKeysRevoked[0].Name != "deploy" {
			f.t.Errorf("revoke-sessions answer: %+v", out)
		}
		if st := f.status("/api/v1/me", vk.Key); st != http.StatusUnauthorized {
			f.t.Errorf("API key after an admin revoked sessions: %d", st)
		}

		// Deactivation revokes them for good: reactivation does not bring
		// them back.
		de := f.SignUp("deactivate-keys@example.com", authPassword)
		dk := f.createKey(de.AccessToken, "cron")
		f.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+de.UserID, root, map[string]any{"isActive": false})
		f.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+de.UserID, root, map[string]any{"isActive": true})
		if st := f.status("/api/v1/me", dk.Key); st != http.StatusUnauthorized {
			f.t.Errorf("API key after deactivation and reactivation: %d", st)
		}
	}, withMail)
}

func TestChangePassword_KeepsAPIKeysUnlessAsked(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "keep-keys@example.com"
		s := f.SignUp(email, authPassword)
		k := f.createKey(s.AccessToken, "ci")
		type answer struct {
			OtherSessionsRevoked int64 `json:"otherSessionsRevoked"`
			APIKeysRevoked       []struct {
				ID string `json:"id"`
			} `json:"apiKeysRevoked"`
		}
		var a answer
		f.Call(http.StatusOK, "POST", "/api/v1/me/password", s.AccessToken,
			map[string]any{"currentPassword": authPassword, "newPassword": "second long passphrase"}).Data(f.t, &a)
		if len(a.APIKeysRevoked) != 0 {
			f.t.Fatalf("a plain password change revoked keys: %+v", a)
		}
		f.Call(http.StatusOK, "GET", "/api/v1/me", k.Key, nil)

		f.Call(http.StatusOK, "POST", "/api/v1/me/password", s.AccessToken,
			map[string]any{"currentPassword": "second long passphrase", "newPassword": "third long passphrase", "revokeApiKeys": true}).Data(f.t, &a)
		if len(a.APIKeysRevoked) != 1 || a.APIKeysRevoked[0].ID != k.ID {
			f.t.Fatalf("revokeApiKeys answer: %+v", a)
		}
		if st := f.status("/api/v1/me", k.Key); st != http.StatusUnauthorized {
			f.t.Fatalf("API key after a change with revokeApiKeys: %d", st)
		}
		f.Call(http.StatusOK, "GET", "/api/v1/me", s.AccessToken, nil)
	})
}

// impersonate has root (a SUPER_ADMIN) start impersonating target.
func (f authFlow) impersonate(root, targetID string) string {
	f.t.Helper()
	var tok struct {
		AccessToken string `json:"accessToken"`
	}
	f.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+targetID+"/impersonate", root, nil).Data(f.t, &tok)
	return tok.AccessToken
}

func TestImpersonation_CannotManageTheAccount(t *testing.T) {
	runAuth(t, func(f authFlow) {
		u := f.SignUp("impersonated@example.com", authPassword)
		tok := f.impersonate(f.Admin().AccessToken, u.UserID)
		for _, req := range accountChanges("taken-over@example.com") {
			req.Token = tok
			r := f.Do(req)
			if r.Status != http.StatusForbidden || r.Code() != "FORBIDDEN" {
				f.t.Errorf("impersonation %s %s: %d %s", req.Method, req.Path, r.Status, r.Raw)
			}
		}
		f.Login(u.Email, authPassword)
	})
}

func TestImpersonation_EndsWhenTheImpersonatorLosesStanding(t *testing.T) {
	runAuth(t, func(f authFlow) {
		root := f.Admin().AccessToken
		cases := []struct {
			name string
			end  func(super apptest.Session)
		}{
			{"demoted", func(s apptest.Session) {
				f.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+s.UserID, root, map[string]any{"role": "ADMIN"})
			}},
			{"deactivated", func(s apptest.Session) {
				f.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+s.UserID, root, map[string]any{"isActive": false})
			}},
			{"deleted", func(s apptest.Session) {
				f.Call(http.StatusOK, "DELETE", "/api/v1/admin/users/"+s.UserID, root, nil)
			}},
			{"signed out everywhere", func(s apptest.Session) {
				f.Call(http.StatusOK, "POST", "/api/v1/auth/logout-all", s.AccessToken, nil)
			}},
			{"signed out everywhere by an admin", func(s apptest.Session) {
				f.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+s.UserID+"/revoke-sessions", root, nil)
			}},
		}
		for i, c := range cases {
			super := f.SignUp("super"+string(rune('a'+i))+"@example.com", authPassword)
			f.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+super.UserID, root, map[string]any{"role": "SUPER_ADMIN"})
			target := f.SignUp("target"+string(rune('a'+i))+"@example.com", authPassword)
			tok := f.impersonate(super.AccessToken, target.UserID)
			f.Call(http.StatusOK, "GET", "/api/v1/me", tok, nil)
			c.end(super)
			if st := f.status("/api/v1/me", tok); st != http.StatusUnauthorized {
				f.t.Errorf("impersonation after the impersonator was %s: %d", c.name, st)
			}
			// The user's own session is untouched.
			f.Call(http.StatusOK, "GET", "/api/v1/me", target.AccessToken, nil)
		}
	})
}
