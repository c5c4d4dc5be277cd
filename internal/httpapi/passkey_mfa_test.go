package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
)

// passwordChallenge signs in with the password and expects the
// second-factor step offering methods.
func (f authFlow) passwordChallenge(email string, methods ...string) challenge {
	f.t.Helper()
	var ch challenge
	f.Call(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": authPassword}).Data(f.t, &ch)
	if !ch.MFARequired || !strings.HasPrefix(ch.MFAToken, "sbm_") || !slices.Equal(ch.Methods, methods) {
		f.t.Fatalf("password step: %+v, want methods %v", ch, methods)
	}
	return ch
}

// beginMFAPasskey starts the passkey step of a sign-in.
func (f authFlow) beginMFAPasskey(mfaToken string) passkeyOptions {
	f.t.Helper()
	var o passkeyOptions
	f.Call(http.StatusOK, "POST", "/api/v1/auth/login/mfa/passkey/begin", "", map[string]string{"mfaToken": mfaToken}).Data(f.t, &o)
	return o
}

func passkeyProof(o passkeyOptions, credential json.RawMessage) map[string]any {
	return map[string]any{"ceremonyId": o.CeremonyID, "credential": credential}
}

func TestPasskeyMFA_PasswordThenPasskeySignsIn(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "pk-mfa@example.com"
		s := f.SignUp(email, authPassword)
		a, id := f.registerPasskey(s.AccessToken, "Laptop")
		other := f.SignUp("pk-mfa-other@example.com", authPassword)
		b, _ := f.registerPasskey(other.AccessToken, "Other")

		// A passkey alone is a second factor: the password opens no session.
		ch := f.passwordChallenge(email, "passkey")
		o := f.beginMFAPasskey(ch.MFAToken)
		if len(o.PublicKey.AllowCredentials) != 1 || o.PublicKey.UserVerification != "required" {
			t.Fatalf("request options bound to the account: %+v", o.PublicKey)
		}
		// Another account's passkey does not complete it.
		f.wantErr(f.post("/api/v1/auth/login/mfa", "", map[string]any{"mfaToken": ch.MFAToken, "passkey": passkeyProof(o, b.get(o))}),
			http.StatusUnauthorized, "UNAUTHORIZED", "")
		// Beginning does not use up the token; the used ceremony is gone.
		o = f.beginMFAPasskey(ch.MFAToken)
		var tok struct {
			AccessToken, RefreshToken string
			User                      struct{ ID string }
		}
		f.Call(http.StatusOK, "POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfaToken": ch.MFAToken, "passkey": passkeyProof(o, a.get(o))}).
			Data(t, &tok)
		if tok.User.ID != s.UserID || tok.AccessToken == "" || tok.RefreshToken == "" {
			t.Fatalf("tokens: %+v", tok)
		}
		f.Call(http.StatusOK, "GET", "/api/v1/me", tok.AccessToken, nil)
		if m := f.auditMetadata("auth.login", "success"); m[len(m)-1]["method"] != "password+passkey" || m[len(m)-1]["passkeyId"] != id {
			t.Fatalf("sign-in audit: %v", m[len(m)-1])
		}
		if f.failedLogins(s.UserID) != 0 {
			t.Fatalf("failed logins after success: %d", f.failedLogins(s.UserID))
		}
		// The token works once, and the begin route knows it.
		f.wantErr(f.post("/api/v1/auth/login/mfa/passkey/begin", "", map[string]string{"mfaToken": ch.MFAToken}),
			http.StatusUnauthorized, "UNAUTHORIZED", "")
		f.wantErr(f.post("/api/v1/auth/login/mfa/passkey/begin", "", map[string]string{}), http.StatusBadRequest, "VALIDATION_ERROR", "mfaToken: is required")

		// As a browser: the refresh token goes into the cookie.
		r := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/login", Headers: map[string]string{"Origin": f.URL},
			Body: map[string]string{"email": email, "password": authPassword, "session": "cookie"}})
		r.Data(t, &ch)
		o = f.beginMFAPasskey(ch.MFAToken)
		r = f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/login/mfa", Headers: map[string]string{"Origin": f.URL},
			Body: map[string]any{"mfaToken": ch.MFAToken, "passkey": passkeyProof(o, a.get(o)), "session": "cookie"}})
		if r.Status != http.StatusOK || refreshCookieOf(r) == nil || strings.Contains(string(r.Raw), "refreshToken") {
			t.Fatalf("cookie sign-in: %d %s %v", r.Status, r.Raw, r.Header.Values("Set-Cookie"))
		}

		// Passwordless sign-in stays one step: the passkey verified the user.
		lo := f.beginPasskeyLogin()
		f.Call(http.StatusOK, "POST", "/api/v1/auth/passkey/finish", "", map[string]any{"ceremonyId": lo.CeremonyID, "credential": a.get(lo)})

		// With TOTP as well, every method is offered; a code still works.
		f.exec(`UPDATE sessions SET reauth_at = $1 WHERE user_id = $2`, time.Now(), s.UserID)
		secret, _ := f.enrollTOTP(s)
		ch = f.passwordChallenge(email, "totp", "recovery_code", "passkey")
		f.Call(http.StatusOK, "POST", "/api/v1/auth/login/mfa", "",
			map[string]any{"mfaToken": ch.MFAToken, "code": totpCode(t, secret, time.Now().Add(30*time.Second))})
		// One proof at a time.
		ch = f.passwordChallenge(email, "totp", "recovery_code", "passkey")
		o = f.beginMFAPasskey(ch.MFAToken)
		f.wantErr(f.post("/api/v1/auth/login/mfa", "", map[string]any{"mfaToken": ch.MFAToken, "code": "123456", "passkey": passkeyProof(o, a.get(o))}),
			http.StatusBadRequest, "VALIDATION_ERROR", "")
		f.wantErr(f.post("/api/v1/auth/login/mfa", "", map[string]any{"mfaToken": ch.MFAToken, "passkey": map[string]any{"ceremonyId": o.CeremonyID}}),
			http.StatusBadRequest, "VALIDATION_ERROR", "passkey.credential: is required")

		// Turning TOTP off leaves the passkey as the second factor.
		f.Call(http.StatusOK, "DELETE", "/api/v1/me/2fa/totp", s.AccessToken, nil)
		f.passwordChallenge(email, "passkey")
	})
}

func TestPasskeyMFA_RefusedAssertionsCountTowardTheLockout(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "pk-mfa-lock@example.com"
		s := f.SignUp(email, authPassword)
		a, _ := f.registerPasskey(s.AccessToken, "Key")
		ch := f.passwordChallenge(email, "passkey")
		good := a.origin
		a.origin = "https://evil.example"
		for i := range 5 {
			o := f.beginMFAPasskey(ch.MFAToken)
			f.wantErr(f.post("/api/v1/auth/login/mfa", "", map[string]any{"mfaToken": ch.MFAToken, "passkey": passkeyProof(o, a.get(o))}),
				http.StatusUnauthorized, "UNAUTHORIZED", "the passkey was not accepted: Error validating origin")
			if i < 4 && f.failedLogins(s.UserID) != i+1 {
				t.Fatalf("after %d refused answers, %d failed logins", i+1, f.failedLogins(s.UserID))
			}
		}
		if f.lockedUntil(s.UserID).IsZero() {
			t.Fatal("five refused passkeys did not lock the account")
		}
		var reasons []string
		for _, m := range f.auditMetadata("auth.login_mfa", "failure") {
			reasons = append(reasons, m["reason"].(string))
		}
		if len(reasons) != 5 || reasons[0] != "passkey_refused" {
			t.Fatalf("audited refusals: %v", reasons)
		}
		// Locked: the right passkey is not checked, and its ceremony is spent.
		a.origin = good
		o := f.beginMFAPasskey(ch.MFAToken)
		f.wantErr(f.post("/api/v1/auth/login/mfa", "", map[string]any{"mfaToken": ch.MFAToken, "passkey": passkeyProof(o, a.get(o))}),
			http.StatusTooManyRequests, "RATE_LIMITED", "")
		if n := f.count(`SELECT count(*) FROM webauthn_ceremonies WHERE id = $1`, o.CeremonyID); n != 0 {
			t.Fatalf("the ceremony of a locked try survives: %d", n)
		}
	})
}

func TestPasskeyMFA_ReauthWithAPasskey(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("pk-sudo@example.com", authPassword)
		a, id := f.registerPasskey(s.AccessToken, "Key")
		f.staleReauth(s)
		f.wantErr(f.post("/api/v1/me/api-keys", s.AccessToken, map[string]string{"name": "ci"}), http.StatusForbidden, "REAUTH_REQUIRED", "")
		// Adding or removing a passkey is a factor change: it needs it too.
		f.wantErr(f.post("/api/v1/me/passkeys/register/begin", s.AccessToken, nil), http.StatusForbidden, "REAUTH_REQUIRED", "")
		f.wantErr(f.Do(apptest.Request{Method: "DELETE", Path: "/api/v1/me/passkeys/" + id, Token: s.AccessToken}),
			http.StatusForbidden, "REAUTH_REQUIRED", "")

		var o passkeyOptions
		f.Call(http.StatusOK, "POST", "/api/v1/auth/reauth/passkey/begin", s.AccessToken, nil).Data(t, &o)
		if len(o.PublicKey.AllowCredentials) != 1 {
			t.Fatalf("reauth options: %+v", o.PublicKey)
		}
		// A refused answer is a wrong proof and takes a try.
		a.rpID = "evil.example"
		f.wantErr(f.post("/api/v1/auth/reauth", s.AccessToken, map[string]any{"passkey": passkeyProof(o, a.get(o))}),
			http.StatusBadRequest, "VALIDATION_ERROR", "passkey: was not accepted: Error validating the authenticator response")
		if f.failedLogins(s.UserID) != 1 {
			t.Fatalf("failed logins after a refused passkey: %d", f.failedLogins(s.UserID))
		}
		a.rpID = passkeyRPID
		f.Call(http.StatusOK, "POST", "/api/v1/auth/reauth/passkey/begin", s.AccessToken, nil).Data(t, &o)
		var until struct{ ReauthenticatedUntil time.Time }
		f.Call(http.StatusOK, "POST", "/api/v1/auth/reauth", s.AccessToken, map[string]any{"passkey": passkeyProof(o, a.get(o))}).Data(t, &until)
		if d := time.Until(until.ReauthenticatedUntil); d < 4*time.Minute {
			t.Fatalf("re-authenticated for %s", d)
		}
		if m := f.auditMetadata("auth.reauth", "success"); m[len(m)-1]["method"] != "passkey" || m[len(m)-1]["passkeyId"] != id {
			t.Fatalf("reauth audit: %v", m)
		}
		f.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", s.AccessToken, map[string]string{"name": "ci"})
		// The ceremony works once.
		f.staleReauth(s)
		f.wantErr(f.post("/api/v1/auth/reauth", s.AccessToken, map[string]any{"passkey": passkeyProof(o, a.get(o))}),
			http.StatusBadRequest, "VALIDATION_ERROR", "")
		f.wantErr(f.post("/api/v1/auth/reauth", s.AccessToken, map[string]any{"password": authPassword, "passkey": passkeyProof(o, a.get(o))}),
			http.StatusBadRequest, "VALIDATION_ERROR", "")

		// Neither an impersonation session nor an API key begins one.
		admin := f.Admin()
		var imp struct{ AccessToken string }
		f.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+s.UserID+"/impersonate", admin.AccessToken, nil).Data(t, &imp)
		f.wantErr(f.post("/api/v1/auth/reauth/passkey/begin", imp.AccessToken, nil), http.StatusForbidden, "FORBIDDEN", "")
	})
}

func TestPasskeyMFA_OrgPolicyAndMembersCountPasskeys(t *testing.T) {
	runAuth(t, func(f authFlow) {
		owner := f.SignUp("pk-owner@example.com", authPassword)
		bob := f.SignUp("pk-bob@example.com", authPassword)
		o := createOrg(f.t, f.Harness, owner, "Strict passkeys")
		f.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", bob.AccessToken,
			map[string]string{"token": invite(f.t, f.Harness, owner, o.ID, bob.Email, "ORG_ADMIN", 1)})
		orgPath := "/api/v1/orgs/" + o.ID
		// The owner's passkey is enough to turn the policy on.
		f.registerPasskey(owner.AccessToken, "Owner key")
		f.Call(http.StatusOK, "PATCH", orgPath, owner.AccessToken, map[string]any{"require2fa": true})

		bobOrg := switchTo(f.t, f.Harness, bob, o.ID)
		f.wantErr(f.Do(apptest.Request{Method: "GET", Path: "/api/v1/gateways", Token: bobOrg}), http.StatusForbidden, "MFA_REQUIRED", "")
		// Adding a passkey stays open inside the organization; then Bob is in.
		_, id := f.registerPasskey(bobOrg, "Bob key")
		f.Call(http.StatusOK, "GET", "/api/v1/gateways", bobOrg, nil)
		var list []struct {
			UserID    string `json:"userId"`
			HasFactor bool   `json:"hasFactor"`
		}
		f.Call(http.StatusOK, "GET", orgPath+"/members", owner.AccessToken, nil).Items(t, &list)
		if len(list) != 2 || !list[0].HasFactor || !list[1].HasFactor {
			t.Fatalf("members: %+v", list)
		}
		// Deleting his last passkey is allowed; he is held at the door again.
		f.Call(http.StatusOK, "DELETE", "/api/v1/me/passkeys/"+id, bobOrg, nil)
		f.wantErr(f.Do(apptest.Request{Method: "GET", Path: "/api/v1/gateways", Token: bobOrg}), http.StatusForbidden, "MFA_REQUIRED", "")
		f.Call(http.StatusOK, "GET", orgPath+"/members", owner.AccessToken, nil).Items(t, &list)
		for _, m := range list {
			if m.HasFactor != (m.UserID == owner.UserID) {
				t.Fatalf("members after the delete: %+v", list)
			}
		}
	}, withMail)
}

func TestPasskeyMFA_AdminResetRemovesPasskeys(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "pk-reset@example.com"
		s := f.SignUp(email, authPassword)
		a, _ := f.registerPasskey(s.AccessToken, "Lost key")
		f.registerPasskey(s.AccessToken, "Lost key 2")
		admin := f.Admin()
		f.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+s.UserID+"/reset-2fa", admin.AccessToken, map[string]string{"reason": "ticket 7"})
		if n := f.count(`SELECT count(*) FROM passkeys WHERE user_id = $1`, s.UserID); n != 0 {
			t.Fatalf("%d passkeys left after the reset", n)
		}
		rows := f.auditMetadata("admin.user_factors_reset", "success")
		if len(rows) != 1 || rows[0]["reason"] != "ticket 7" || rows[0]["passkeysRemoved"] != float64(2) {
			t.Fatalf("reset audit: %v", rows)
		}
		f.mailWith(email, "second factor of your Switchboard account was reset")
		if r := f.login(email, authPassword); r.Status != http.StatusOK || strings.Contains(string(r.Raw), "mfaRequired") {
			t.Fatalf("login after reset: %s", r.Raw)
		}
		lo := f.beginPasskeyLogin()
		f.wantErr(f.finishPasskeyLogin(lo, a.get(lo)), http.StatusUnauthorized, "UNAUTHORIZED", "")
		f.wantErr(f.post("/api/v1/admin/users/"+s.UserID+"/reset-2fa", admin.AccessToken, map[string]string{"reason": "again"}),
			http.StatusConflict, "CONFLICT", "")
	}, withMail)
}

func TestPasskeyMFA_ParallelRefusedAssertionsVerifyAtMostFive(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "pk-mfa-race@example.com"
		s := f.SignUp(email, authPassword)
		a, _ := f.registerPasskey(s.AccessToken, "Key")
		ch := f.passwordChallenge(email, "passkey")
		a.origin = "https://evil.example"
		const n = 20
		answers := make([]map[string]any, n)
		for i := range answers {
			o := f.beginMFAPasskey(ch.MFAToken)
			answers[i] = map[string]any{"mfaToken": ch.MFAToken, "passkey": passkeyProof(o, a.get(o))}
		}
		var wg sync.WaitGroup
		statuses := make([]int, n)
		for i := range answers {
			wg.Go(func() { statuses[i] = f.post("/api/v1/auth/login/mfa", "", answers[i]).Status })
		}
		wg.Wait()
		for i, st := range statuses {
			if st != http.StatusUnauthorized && st != http.StatusTooManyRequests {
				t.Fatalf("answer %d: %d", i, st)
			}
		}
		// Each verified answer took one of the five tries first; the rest
		// found the account locked and were refused unverified.
		reasons := map[string]int{}
		for _, m := range f.auditMetadata("auth.login_mfa", "failure") {
			reasons[m["reason"].(string)]++
		}
		if reasons["passkey_refused"] != 5 || reasons["passkey_refused"]+reasons["locked"] != n || f.lockedUntil(s.UserID).IsZero() {
			t.Fatalf("refusals in the race: %v, locked until %v", reasons, f.lockedUntil(s.UserID))
		}
	})
}
