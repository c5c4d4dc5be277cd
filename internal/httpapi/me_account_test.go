package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
)

type meView struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	EmailVerified bool   `json:"emailVerified"`
}

func TestMe_GetAndPatchTheOwnAccount(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("me@example.com", authPassword)
		f.SignUp("taken@example.com", authPassword)
		var u meView
		r := f.Call(http.StatusOK, "GET", "/api/v1/me", s.AccessToken, nil)
		r.Data(f.t, &u)
		if u.ID != s.UserID || u.Email != "me@example.com" || strings.Contains(string(r.Raw), "argon2") {
			f.t.Fatalf("GET /me: %s", r.Raw)
		}
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", s.AccessToken, map[string]string{"name": "  Grace Hopper "}).Data(f.t, &u)
		if u.Name != "Grace Hopper" {
			f.t.Fatalf("name after PATCH: %q", u.Name)
		}
		patch := func(body map[string]string) *apptest.Response {
			return f.Do(apptest.Request{Method: "PATCH", Path: "/api/v1/me", Token: s.AccessToken, Body: body})
		}
		// A sign-in counts as a re-authentication for five minutes; past
		// them, a new email needs the current password.
		f.exec(`UPDATE sessions SET reauth_at = $1 WHERE user_id = $2`, time.Now().Add(-6*time.Minute).UTC(), s.UserID)
		f.wantErr(patch(map[string]string{"email": "new@example.com"}), http.StatusBadRequest, "VALIDATION_ERROR",
			"currentPassword: is required to change the email, unless you re-authenticated in the last five minutes (POST /api/v1/auth/reauth)")
		f.wantErr(patch(map[string]string{"email": "new@example.com", "currentPassword": wrongPassword}), http.StatusBadRequest,
			"VALIDATION_ERROR", "currentPassword: is wrong")
		f.wantErr(patch(map[string]string{"email": "TAKEN@example.com", "currentPassword": authPassword}),
			http.StatusConflict, "CONFLICT", "another account uses this email")
		// The same address (in any case) is no change and needs no password.
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", s.AccessToken, map[string]string{"email": "ME@example.com"})

		// A new email is only pending: sign-in and password reset stay with
		// the old address until the new one confirms.
		var pending struct {
			meView
			PendingEmail string `json:"pendingEmail"`
		}
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", s.AccessToken, map[string]string{"email": "New@Example.com", "currentPassword": authPassword}).Data(f.t, &pending)
		if pending.Email != "me@example.com" || pending.PendingEmail != "new@example.com" {
			f.t.Fatalf("after asking for an email change: %+v", pending)
		}
		f.wantErr(f.login("new@example.com", authPassword), http.StatusUnauthorized, "UNAUTHORIZED", "invalid email or password")
		f.Login("me@example.com", authPassword)
		f.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": "new@example.com"})
		if n := f.count(`SELECT count(*) FROM password_reset_tokens WHERE user_id = $1`, s.UserID); n != 0 {
			f.t.Fatalf("a reset to the pending address was issued (%d tokens)", n)
		}
		f.mailWith("me@example.com", "about to change")
		token := apptest.TokenIn(f.t, f.mailWith("new@example.com", "Confirm your new email"))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/email/change/confirm", "", map[string]string{"token": token}).Data(f.t, &u)
		if !u.EmailVerified || u.Email != "new@example.com" {
			f.t.Fatalf("after confirming the new email: %+v", u)
		}
		f.wantErr(f.post("/api/v1/auth/email/change/confirm", "", map[string]string{"token": token}),
			http.StatusBadRequest, "VALIDATION_ERROR", "token: is invalid, expired or already used")
		f.wantErr(f.login("me@example.com", authPassword), http.StatusUnauthorized, "UNAUTHORIZED", "invalid email or password")
		f.Login("new@example.com", authPassword)
		f.Call(http.StatusUnauthorized, "GET", "/api/v1/me", "", nil)
		// The old address is told, with a way back, and is kept for it.
		f.mailWith("me@example.com", "email was changed")
		f.wantErr(f.post("/api/v1/auth/signup", "", map[string]string{"email": "me@example.com", "password": authPassword}),
			http.StatusConflict, "CONFLICT", "")
	}, withMail)
}

func TestMe_DeleteIsSoftFreesTheEmailAndKillsCredentials(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "gone@example.com"
		s := f.SignUp(email, authPassword)
		other := f.Login(email, authPassword)
		var key struct{ Key string }
		f.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", s.AccessToken, map[string]string{"name": "ci"}).Data(f.t, &key)
		refusal := f.refusal()

		f.Call(http.StatusOK, "DELETE", "/api/v1/me", s.AccessToken, nil)
		if r := f.login(email, authPassword); string(r.Raw) != refusal {
			f.t.Fatalf("login to a deleted account: %d %s, want %s", r.Status, r.Raw, refusal)
		}
		for name, tok := range map[string]string{"access token": s.AccessToken, "other session": other.AccessToken, "API key": key.Key} {
			if st := f.status("/api/v1/me", tok); st != http.StatusUnauthorized {
				f.t.Errorf("%s after delete: %d", name, st)
			}
		}
		if r := f.post("/api/v1/auth/refresh", "", map[string]string{"refreshToken": s.RefreshToken}); r.Status != http.StatusUnauthorized {
			f.t.Errorf("refresh after delete: %d", r.Status)
		}
		if n := f.count(`SELECT count(*) FROM users WHERE id = $1 AND deleted_at IS NOT NULL`, s.UserID); n != 1 {
			f.t.Fatal("the deleted account's row is gone or not marked deleted")
		}
		// A password reset cannot bring a deleted account back.
		f.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": email})

		again := f.SignUp(strings.ToUpper(email), "a different passphrase")
		if again.UserID == s.UserID || again.UserID == "" {
			f.t.Fatalf("sign-up after delete reused id %q", again.UserID)
		}
		if st := f.status("/api/v1/me", s.AccessToken); st != http.StatusUnauthorized {
			f.t.Fatalf("old access token works for the new account: %d", st)
		}
		for _, m := range f.Mails(email) {
			if strings.Contains(m.Subject, "Reset") {
				f.t.Fatalf("reset mail sent for a deleted account: %+v", m)
			}
		}
	}, withMail)
}

func TestMe_ChangePasswordRevokesOtherSessionsOnly(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email, next = "change@example.com", "a brand new passphrase"
		cur := f.SignUp(email, authPassword)
		other := f.Login(email, authPassword)
		change := func(current, newPW string) *apptest.Response {
			return f.post("/api/v1/me/password", cur.AccessToken, map[string]string{"currentPassword": current, "newPassword": newPW})
		}
		f.wantErr(change(wrongPassword, next), http.StatusBadRequest, "VALIDATION_ERROR", "currentPassword: is wrong")
		f.exec(`UPDATE sessions SET reauth_at = $1 WHERE user_id = $2`, time.Now().Add(-6*time.Minute).UTC(), cur.UserID)
		f.wantErr(change("", next), http.StatusBadRequest, "VALIDATION_ERROR", "currentPassword: is required, unless you re-authenticated in the last five minutes (POST /api/v1/auth/reauth)")
		f.wantErr(change(authPassword, "password"), http.StatusBadRequest, "VALIDATION_ERROR",
			"newPassword: is one of the most commonly used passwords; choose another")
		f.Call(http.StatusOK, "GET", "/api/v1/me", other.AccessToken, nil)

		if r := change(authPassword, next); r.Status != http.StatusOK {
			f.t.Fatalf("change password: %d %s", r.Status, r.Raw)
		}
		f.Call(http.StatusOK, "GET", "/api/v1/me", cur.AccessToken, nil)
		if st := f.status("/api/v1/me", other.AccessToken); st != http.StatusUnauthorized {
			f.t.Fatalf("other session after a password change: %d", st)
		}
		if r := f.post("/api/v1/auth/refresh", "", map[string]string{"refreshToken": cur.RefreshToken}); r.Status != http.StatusOK {
			f.t.Fatalf("current session's refresh after a password change: %d %s", r.Status, r.Raw)
		}
		f.wantErr(f.login(email, authPassword), http.StatusUnauthorized, "UNAUTHORIZED", "invalid email or password")
		f.Login(email, next)
		f.mailWith(email, "password was changed")
	}, withMail)
}

func TestMe_SessionsListsAndRevokesOwnSessions(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "sessions@example.com"
		s1 := f.SignUp(email, authPassword)
		r := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/login", Headers: map[string]string{"User-Agent": "second-device/1.0"},
			Body: map[string]string{"email": email, "password": authPassword}})
		var second struct{ AccessToken string }
		r.Data(f.t, &second)
		_, c1 := tokenClaims(f.t, s1.AccessToken)
		_, c2 := tokenClaims(f.t, second.AccessToken)

		type session struct {
			ID, UserAgent string
			Current       bool
		}
		list := func(token string) []session {
			var out []session
			f.Call(http.StatusOK, "GET", "/api/v1/me/sessions", token, nil).Items(f.t, &out)
			return out
		}
		got := list(s1.AccessToken)
		if len(got) != 2 {
			f.t.Fatalf("sessions: %+v", got)
		}
		for _, s := range got {
			switch s.ID {
			case c1["sessionId"]:
				if !s.Current {
					f.t.Errorf("own session not marked current: %+v", s)
				}
			case c2["sessionId"]:
				if s.Current || s.UserAgent != "second-device/1.0" {
					f.t.Errorf("second session: %+v", s)
				}
			default:
				f.t.Errorf("unknown session %+v", s)
			}
		}
		id2 := c2["sessionId"].(string)
		f.Call(http.StatusOK, "DELETE", "/api/v1/me/sessions/"+id2, s1.AccessToken, nil)
		if st := f.status("/api/v1/me", second.AccessToken); st != http.StatusUnauthorized {
			f.t.Fatalf("revoked session's token: %d", st)
		}
		if got := list(s1.AccessToken); len(got) != 1 || got[0].ID != c1["sessionId"] {
			f.t.Fatalf("sessions after revoking one: %+v", got)
		}
		for _, id := range []string{id2, "ses_01jabcdefghjkmnpqrstvwxyz0", "nonsense"} {
			f.wantErr(f.Do(apptest.Request{Method: "DELETE", Path: "/api/v1/me/sessions/" + id, Token: s1.AccessToken}),
				http.StatusNotFound, "NOT_FOUND", "session not found")
		}
		// Revoking the current session is a logout.
		f.Call(http.StatusOK, "DELETE", "/api/v1/me/sessions/"+c1["sessionId"].(string), s1.AccessToken, nil)
		f.Call(http.StatusUnauthorized, "GET", "/api/v1/me", s1.AccessToken, nil)
	})
}

// A recent re-authentication stands in for the current password of an
// email or password change; without one, or past five minutes, the
// password is required. An impersonation cannot use it.
func TestMe_RecentReauthenticationStandsInForThePassword(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "fresh@example.com"
		s := f.SignUp(email, authPassword)
		stale := func() {
			f.exec(`UPDATE sessions SET reauth_at = $1 WHERE user_id = $2`, time.Now().Add(-6*time.Minute).UTC(), s.UserID)
		}
		stale()
		f.wantErr(f.Do(apptest.Request{Method: "PATCH", Path: "/api/v1/me", Token: s.AccessToken,
			Body: map[string]string{"email": "fresh2@example.com"}}), http.StatusBadRequest, "VALIDATION_ERROR",
			"currentPassword: is required to change the email, unless you re-authenticated in the last five minutes (POST /api/v1/auth/reauth)")
		f.Call(http.StatusOK, "POST", "/api/v1/auth/reauth", s.AccessToken, map[string]string{"password": authPassword})
		var pending struct {
			PendingEmail string `json:"pendingEmail"`
		}
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", s.AccessToken, map[string]string{"email": "fresh2@example.com"}).Data(f.t, &pending)
		if pending.PendingEmail != "fresh2@example.com" {
			f.t.Fatalf("email change after re-authentication: %+v", pending)
		}

		stale()
		f.wantErr(f.post("/api/v1/me/password", s.AccessToken, map[string]string{"newPassword": "another long passphrase"}),
			http.StatusBadRequest, "VALIDATION_ERROR", "currentPassword: is required, unless you re-authenticated in the last five minutes (POST /api/v1/auth/reauth)")
		f.Call(http.StatusOK, "POST", "/api/v1/auth/reauth", s.AccessToken, map[string]string{"password": authPassword})
		f.Call(http.StatusOK, "POST", "/api/v1/me/password", s.AccessToken, map[string]string{"newPassword": "another long passphrase"})
		f.Login(email, "another long passphrase")
	}, withMail)
}
