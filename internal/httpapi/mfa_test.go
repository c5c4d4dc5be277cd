package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
)

// totpCode computes the code an authenticator app shows at t, independently
// of the server.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatalf("generate TOTP code: %v", err)
	}
	return code
}

// wrongCode is a six-digit code valid in none of the steps around now.
func wrongCode(t *testing.T, secret string) string {
	t.Helper()
	valid := map[string]bool{}
	for d := -2; d <= 2; d++ {
		valid[totpCode(t, secret, time.Now().Add(time.Duration(d)*30*time.Second))] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444", "555555"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

type challenge struct {
	MFARequired bool     `json:"mfaRequired"`
	MFAToken    string   `json:"mfaToken"`
	Methods     []string `json:"methods"`
	ExpiresIn   int      `json:"expiresIn"`
}

// enrollTOTP turns TOTP on for s and returns the secret and the recovery
// codes. The confirming code is the one of the step before now, so the
// current and the next step are still free for the test.
func (f authFlow) enrollTOTP(s apptest.Session) (string, []string) {
	f.t.Helper()
	secret, codes, _ := f.enrollTOTPCode(s)
	return secret, codes
}

// enrollTOTPCode is enrollTOTP, also returning the code the confirmation
// used (its step is spent).
func (f authFlow) enrollTOTPCode(s apptest.Session) (string, []string, string) {
	f.t.Helper()
	var en struct{ Secret, OtpauthURL string }
	f.Call(http.StatusOK, "POST", "/api/v1/me/2fa/totp", s.AccessToken, nil).Data(f.t, &en)
	if en.Secret == "" || !strings.HasPrefix(en.OtpauthURL, "otpauth://totp/") || !strings.Contains(en.OtpauthURL, en.Secret) {
		f.t.Fatalf("enrollment: %+v", en)
	}
	var rc struct{ RecoveryCodes []string }
	used := totpCode(f.t, en.Secret, time.Now().Add(-30*time.Second))
	f.Call(http.StatusOK, "POST", "/api/v1/me/2fa/totp/confirm", s.AccessToken,
		map[string]string{"code": used}).Data(f.t, &rc)
	if len(rc.RecoveryCodes) != 10 {
		f.t.Fatalf("recovery codes: %v", rc.RecoveryCodes)
	}
	return en.Secret, rc.RecoveryCodes, used
}

// mfaLogin signs in with the password and expects the second-factor step.
func (f authFlow) mfaLogin(email string) challenge {
	f.t.Helper()
	var ch challenge
	f.Call(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": authPassword}).Data(f.t, &ch)
	if !ch.MFARequired || !strings.HasPrefix(ch.MFAToken, "sbm_") || len(ch.Methods) != 2 || ch.ExpiresIn != 300 {
		f.t.Fatalf("login of a 2FA account: %+v", ch)
	}
	return ch
}

func TestTOTP_EnrollSignInReplayAndRecoveryCodes(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "totp@example.com"
		s := f.SignUp(email, authPassword)

		// A wrong first code does not turn the factor on.
		var en struct{ Secret string }
		f.Call(http.StatusOK, "POST", "/api/v1/me/2fa/totp", s.AccessToken, nil).Data(f.t, &en)
		f.wantErr(f.post("/api/v1/me/2fa/totp/confirm", s.AccessToken, map[string]string{"code": wrongCode(f.t, en.Secret)}),
			http.StatusBadRequest, "VALIDATION_ERROR", "")
		if r := f.login(email, authPassword); r.Status != http.StatusOK || strings.Contains(string(r.Raw), "mfaRequired") {
			f.t.Fatalf("login before confirmation: %s", r.Raw)
		}

		secret, codes, spent := f.enrollTOTPCode(s)
		if n := f.count(`SELECT count(*) FROM totp_factors WHERE id = $1 AND confirmed_at IS NOT NULL AND secret_sealed NOT LIKE $2`,
			s.UserID, "%"+secret+"%"); n != 1 {
			f.t.Fatalf("sealed, confirmed factors: %d", n)
		}
		if n := f.count(`SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND code_hash <> $2`, s.UserID, codes[0]); n != 10 {
			f.t.Fatalf("stored recovery codes: %d", n)
		}
		f.mailWith(email, "second factor was added")
		// Enrolling again while on is a conflict.
		f.wantErr(f.post("/api/v1/me/2fa/totp", s.AccessToken, nil), http.StatusConflict, "CONFLICT", "")

		// The password alone opens no session; the code the confirmation
		// used is spent (taken from it: a code computed again here would
		// be of the next step once a 30 s boundary had passed meanwhile).
		ch := f.mfaLogin(email)
		if f.count(`SELECT count(*) FROM mfa_challenges WHERE token_hash = $1`, ch.MFAToken) != 0 {
			f.t.Fatal("the sign-in token is stored in clear")
		}
		f.wantErr(f.post("/api/v1/auth/login/mfa", "", map[string]string{"mfaToken": ch.MFAToken, "code": spent}),
			http.StatusUnauthorized, "UNAUTHORIZED", "")
		code := totpCode(f.t, secret, time.Now().Add(30*time.Second))
		var tok struct {
			AccessToken, RefreshToken string
			User                      struct{ ID string }
		}
		f.Call(http.StatusOK, "POST", "/api/v1/auth/login/mfa", "", map[string]string{"mfaToken": ch.MFAToken, "code": code}).Data(f.t, &tok)
		if tok.AccessToken == "" || tok.RefreshToken == "" || tok.User.ID != s.UserID {
			f.t.Fatalf("second-factor sign-in: %+v", tok)
		}
		f.Call(http.StatusOK, "GET", "/api/v1/me", tok.AccessToken, nil)
		// The token works once; the code works once.
		f.wantErr(f.post("/api/v1/auth/login/mfa", "", map[string]string{"mfaToken": ch.MFAToken, "code": code}),
			http.StatusUnauthorized, "UNAUTHORIZED", "")
		ch2 := f.mfaLogin(email)
		f.wantErr(f.post("/api/v1/auth/login/mfa", "", map[string]string{"mfaToken": ch2.MFAToken, "code": code}),
			http.StatusUnauthorized, "UNAUTHORIZED", "")

		// A recovery code signs in once, whatever its spelling.
		recovery := strings.ToUpper(strings.ReplaceAll(codes[3], "-", ""))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/login/mfa", "", map[string]string{"mfaToken": ch2.MFAToken, "recoveryCode": recovery})
		f.mailWith(email, "recovery code was used")
		ch3 := f.mfaLogin(email)
		f.wantErr(f.post("/api/v1/auth/login/mfa", "", map[string]string{"mfaToken": ch3.MFAToken, "recoveryCode": codes[3]}),
			http.StatusUnauthorized, "UNAUTHORIZED", "")
		var st struct {
			TOTP              bool `json:"totp"`
			RecoveryCodesLeft int  `json:"recoveryCodesLeft"`
		}
		f.Call(http.StatusOK, "GET", "/api/v1/me/2fa", s.AccessToken, nil).Data(f.t, &st)
		if !st.TOTP || st.RecoveryCodesLeft != 9 {
			f.t.Fatalf("factors: %+v", st)
		}

		// New recovery codes replace the old ones.
		var rc struct{ RecoveryCodes []string }
		f.Call(http.StatusOK, "POST", "/api/v1/me/2fa/recovery-codes", s.AccessToken, nil).Data(f.t, &rc)
		f.wantErr(f.post("/api/v1/auth/login/mfa", "", map[string]string{"mfaToken": ch3.MFAToken, "recoveryCode": codes[5]}),
			http.StatusUnauthorized, "UNAUTHORIZED", "")
		f.Call(http.StatusOK, "POST", "/api/v1/auth/login/mfa", "", map[string]string{"mfaToken": ch3.MFAToken, "recoveryCode": rc.RecoveryCodes[0]})

		// Turning TOTP off: mailed, and the password alone signs in again.
		f.Call(http.StatusOK, "DELETE", "/api/v1/me/2fa/totp", s.AccessToken, nil)
		f.mailWith(email, "second factor was removed")
		if r := f.login(email, authPassword); r.Status != http.StatusOK || strings.Contains(string(r.Raw), "mfaRequired") {
			f.t.Fatalf("login after TOTP off: %s", r.Raw)
		}
		for _, action := range []string{"auth.factor_added", "auth.factor_removed", "auth.recovery_code_used", "auth.recovery_codes_regenerated"} {
			if len(f.auditMetadata(action, "success")) == 0 {
				f.t.Errorf("no %s audit row", action)
			}
		}
	}, withMail)
}

func TestLoginMFA_ParallelWrongCodesVerifyAtMostFive(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "race-mfa@example.com"
		s := f.SignUp(email, authPassword)
		secret, _ := f.enrollTOTP(s)
		ch := f.mfaLogin(email)
		const n = 30
		statuses := make([]int, n)
		body, _ := json.Marshal(map[string]string{"mfaToken": ch.MFAToken, "code": wrongCode(f.t, secret)})
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := http.Post(f.URL+"/api/v1/auth/login/mfa", "application/json", bytes.NewReader(body))
				if err != nil {
					return
				}
				defer res.Body.Close()
				_, _ = io.Copy(io.Discard, res.Body)
				statuses[i] = res.StatusCode
			}()
		}
		close(start)
		wg.Wait()
		for i, st := range statuses {
			if st != http.StatusUnauthorized && st != http.StatusTooManyRequests {
				f.t.Fatalf("parallel wrong code %d answered %d", i, st)
			}
		}
		reasons := map[string]int{}
		for _, m := range f.auditMetadata("auth.login_mfa", "failure") {
			reasons[m["reason"].(string)]++
		}
		if reasons["wrong_totp"] != 5 || reasons["wrong_totp"]+reasons["locked"] != n {
			f.t.Fatalf("checked codes in the race: %v; want exactly 5 checked of %d", reasons, n)
		}
		f.wantLockedFor(s.UserID, 15*time.Minute)
		// Locked: even the right code is not checked.
		f.wantErr(f.post("/api/v1/auth/login/mfa", "", map[string]string{"mfaToken": ch.MFAToken, "code": totpCode(f.t, secret, time.Now())}),
			http.StatusTooManyRequests, "RATE_LIMITED", "")
	})
}

func TestLoginMFA_CookieSession(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "cookie-mfa@example.com"
		s := f.SignUp(email, authPassword)
		secret, _ := f.enrollTOTP(s)
		r := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/login", Headers: map[string]string{"Origin": f.URL},
			Body: map[string]string{"email": email, "password": authPassword, "session": "cookie"}})
		var ch challenge
		r.Data(f.t, &ch)
		if !ch.MFARequired || refreshCookieOf(r) != nil {
			f.t.Fatalf("first step of a cookie sign-in: %s, cookies %v", r.Raw, r.Header.Values("Set-Cookie"))
		}
		code := totpCode(f.t, secret, time.Now().Add(30*time.Second))
		body := map[string]string{"mfaToken": ch.MFAToken, "code": code, "session": "cookie"}
		f.wantErr(f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/login/mfa", Body: body,
			Headers: map[string]string{"Origin": "https://evil.example"}}), http.StatusForbidden, "FORBIDDEN", "")
		r = f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/login/mfa", Body: body, Headers: map[string]string{"Origin": f.URL}})
		var tok struct{ AccessToken, RefreshToken string }
		r.Data(f.t, &tok)
		c := refreshCookieOf(r)
		if r.Status != http.StatusOK || c == nil || tok.RefreshToken != "" || tok.AccessToken == "" {
			f.t.Fatalf("cookie completion: %d %s cookies %v", r.Status, r.Raw, r.Header.Values("Set-Cookie"))
		}
		ref := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]string{"session": "cookie"},
			Headers: map[string]string{"Origin": f.URL, "Cookie": refreshCookieName + "=" + c.Value}})
		if ref.Status != http.StatusOK {
			f.t.Fatalf("refresh through the cookie: %d %s", ref.Status, ref.Raw)
		}
	})
}

// staleReauth moves the session's last re-authentication out of the window.
func (f authFlow) staleReauth(s apptest.Session) {
	f.t.Helper()
	var claims struct{ SessionID string }
	_, payload := tokenClaims(f.t, s.AccessToken)
	claims.SessionID, _ = payload["sessionId"].(string)
	f.exec(`UPDATE sessions SET reauth_at = $1 WHERE id = $2`, db.Now().Add(-6*time.Minute), claims.SessionID)
}

func TestReauth_SensitiveActionsNeedARecentProof(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("sudo@example.com", authPassword)
		key := map[string]string{"name": "ci"}
		// A sign-in counts as a re-authentication.
		var created struct{ Key string }
		f.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", s.AccessToken, key).Data(f.t, &created)

		f.staleReauth(s)
		for _, c := range []struct{ method, path string }{
			{"POST", "/api/v1/me/api-keys"}, {"DELETE", "/api/v1/me"}, {"POST", "/api/v1/me/2fa/totp"},
		} {
			var body any
			if c.path == "/api/v1/me/api-keys" {
				body = key
			}
			f.wantErr(f.Do(apptest.Request{Method: c.method, Path: c.path, Token: s.AccessToken, Body: body}),
				http.StatusForbidden, "REAUTH_REQUIRED", "")
		}
		// Reading stays open.
		f.Call(http.StatusOK, "GET", "/api/v1/me/api-keys", s.AccessToken, nil)
		f.wantErr(f.post("/api/v1/auth/reauth", s.AccessToken, map[string]string{"password": wrongPassword}),
			http.StatusBadRequest, "VALIDATION_ERROR", "password: is wrong")
		f.wantErr(f.post("/api/v1/auth/reauth", s.AccessToken, map[string]string{}), http.StatusBadRequest, "VALIDATION_ERROR", "")
		var until struct{ ReauthenticatedUntil time.Time }
		f.Call(http.StatusOK, "POST", "/api/v1/auth/reauth", s.AccessToken, map[string]string{"password": authPassword}).Data(f.t, &until)
		if d := time.Until(until.ReauthenticatedUntil); d < 4*time.Minute || d > 5*time.Minute+time.Second {
			f.t.Fatalf("re-authenticated for %s", d)
		}
		f.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", s.AccessToken, key)

		// With TOTP on, a code re-authenticates too, once.
		secret, _ := f.enrollTOTP(s)
		f.staleReauth(s)
		code := totpCode(f.t, secret, time.Now().Add(30*time.Second))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/reauth", s.AccessToken, map[string]string{"code": code})
		f.staleReauth(s)
		f.wantErr(f.post("/api/v1/auth/reauth", s.AccessToken, map[string]string{"code": code}), http.StatusBadRequest, "VALIDATION_ERROR", "")

		// An API key can neither re-authenticate nor act as if it had.
		f.wantErr(f.post("/api/v1/auth/reauth", created.Key, map[string]string{"password": authPassword}), http.StatusForbidden, "FORBIDDEN", "")
		f.wantErr(f.post("/api/v1/me/api-keys", created.Key, key), http.StatusForbidden, "FORBIDDEN", "")
		if n := len(f.auditMetadata("auth.reauth", "success")); n != 2 {
			f.t.Fatalf("%d auth.reauth audit rows, want 2", n)
		}
	})
}

func TestReauth_AdminActionsAndImpersonation(t *testing.T) {
	runAuth(t, func(f authFlow) {
		admin := f.Admin()
		u := f.SignUp("target@example.com", authPassword)
		f.staleReauth(admin)
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"PATCH", "/api/v1/admin/users/" + u.UserID, map[string]string{"plan": "PRO"}},
			{"PATCH", "/api/v1/admin/users/" + u.UserID, map[string]string{"role": "SUPPORT"}},
			{"DELETE", "/api/v1/admin/users/" + u.UserID, nil},
			{"POST", "/api/v1/admin/users/" + u.UserID + "/impersonate", nil},
			{"POST", "/api/v1/admin/workspaces/" + u.UserID + "/credits", map[string]any{"amount": 1000, "type": "grant", "reason": "test"}},
			{"POST", "/api/v1/admin/users/" + u.UserID + "/reset-2fa", map[string]any{"reason": "lost phone"}},
		} {
			f.wantErr(f.Do(apptest.Request{Method: c.method, Path: c.path, Token: admin.AccessToken, Body: c.body}),
				http.StatusForbidden, "REAUTH_REQUIRED", "")
		}
		// Deactivation is not on the list.
		f.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+u.UserID, admin.AccessToken, map[string]any{"isActive": true})
		f.Call(http.StatusOK, "POST", "/api/v1/auth/reauth", admin.AccessToken, map[string]string{"password": apptest.AdminPassword})
		var imp struct{ AccessToken string }
		f.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+u.UserID+"/impersonate", admin.AccessToken, nil).Data(f.t, &imp)
		// An impersonation session never counts as re-authenticated.
		f.wantErr(f.post("/api/v1/auth/reauth", imp.AccessToken, map[string]string{"password": authPassword}), http.StatusForbidden, "FORBIDDEN", "")
		f.wantErr(f.post("/api/v1/me/api-keys", imp.AccessToken, map[string]string{"name": "x"}), http.StatusForbidden, "FORBIDDEN", "")
		f.wantErr(f.post("/api/v1/me/2fa/totp", imp.AccessToken, nil), http.StatusForbidden, "FORBIDDEN", "")
	})
}

func TestAdmin_ResetFactors(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "lost-phone@example.com"
		s := f.SignUp(email, authPassword)
		f.enrollTOTP(s)
		admin := f.Admin()
		path := "/api/v1/admin/users/" + s.UserID + "/reset-2fa"
		f.wantErr(f.post(path, admin.AccessToken, map[string]string{"reason": " "}), http.StatusBadRequest, "VALIDATION_ERROR", "")
		f.wantErr(f.post(path, s.AccessToken, map[string]string{"reason": "me"}), http.StatusForbidden, "FORBIDDEN", "")
		f.Call(http.StatusOK, "POST", path, admin.AccessToken, map[string]string{"reason": "ticket 42: lost phone"})
		f.wantErr(f.post(path, admin.AccessToken, map[string]string{"reason": "again"}), http.StatusConflict, "CONFLICT", "")
		rows := f.auditMetadata("admin.user_factors_reset", "success")
		if len(rows) != 1 || rows[0]["reason"] != "ticket 42: lost phone" {
			f.t.Fatalf("reset audit: %v", rows)
		}
		f.mailWith(email, "second factor of your Switchboard account was reset")
		if r := f.login(email, authPassword); r.Status != http.StatusOK || strings.Contains(string(r.Raw), "mfaRequired") {
			f.t.Fatalf("login after reset: %s", r.Raw)
		}
	}, withMail)
}

func TestOrgs_Require2FA(t *testing.T) {
	runAuth(t, func(f authFlow) {
		owner := f.SignUp("owner-2fa@example.com", authPassword)
		bob := f.SignUp("bob-2fa@example.com", authPassword)
		o := createOrg(f.t, f.Harness, owner, "Strict")
		f.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", bob.AccessToken,
			map[string]string{"token": invite(f.t, f.Harness, owner, o.ID, bob.Email, "ORG_ADMIN", 1)})
		orgPath := "/api/v1/orgs/" + o.ID
		// Only an owner with a factor turns the policy on.
		f.wantErr(f.Do(apptest.Request{Method: "PATCH", Path: orgPath, Token: owner.AccessToken, Body: map[string]any{"require2fa": true}}),
			http.StatusConflict, "CONFLICT", "")
		f.enrollTOTP(owner)
		f.wantErr(f.Do(apptest.Request{Method: "PATCH", Path: orgPath, Token: bob.AccessToken, Body: map[string]any{"require2fa": true}}),
			http.StatusForbidden, "FORBIDDEN", "")
		var got struct {
			Require2FA bool `json:"require2fa"`
		}
		f.Call(http.StatusOK, "PATCH", orgPath, owner.AccessToken, map[string]any{"require2fa": true}).Data(f.t, &got)
		if !got.Require2FA {
			f.t.Fatal("require2fa not on")
		}

		// Bob, without a factor, is held at the door: from his personal
		// workspace and acting in the organization alike.
		f.wantErr(f.Do(apptest.Request{Method: "GET", Path: orgPath + "/members", Token: bob.AccessToken}), http.StatusForbidden, "MFA_REQUIRED", "")
		bobOrg := switchTo(f.t, f.Harness, bob, o.ID)
		f.wantErr(f.Do(apptest.Request{Method: "GET", Path: "/api/v1/gateways", Token: bobOrg}), http.StatusForbidden, "MFA_REQUIRED", "")
		f.wantErr(f.Do(apptest.Request{Method: "GET", Path: orgPath + "/audit", Token: bobOrg}), http.StatusForbidden, "MFA_REQUIRED", "")
		f.Call(http.StatusOK, "GET", "/api/v1/me", bobOrg, nil)
		f.Call(http.StatusOK, "GET", orgPath, bob.AccessToken, nil)
		// His personal workspace is his own business.
		f.Call(http.StatusOK, "GET", "/api/v1/gateways", bob.AccessToken, nil)
		// The owner is let through, and sees who lacks a factor.
		var list []struct {
			UserID    string `json:"userId"`
			HasFactor bool   `json:"hasFactor"`
		}
		f.Call(http.StatusOK, "GET", orgPath+"/members", owner.AccessToken, nil).Items(f.t, &list)
		for _, m := range list {
			if m.HasFactor != (m.UserID == owner.UserID) {
				f.t.Fatalf("members: %+v", list)
			}
		}

		// Enrollment stays open in the organization; then Bob is in.
		f.enrollTOTP(apptest.Session{AccessToken: bobOrg})
		f.Call(http.StatusOK, "GET", "/api/v1/gateways", bobOrg, nil)
		f.Call(http.StatusOK, "GET", orgPath+"/members", bob.AccessToken, nil)
		if n := len(f.auditMetadata("org.require_2fa_changed", "success")); n != 1 {
			f.t.Fatalf("%d org.require_2fa_changed rows", n)
		}
	}, withMail)
}
