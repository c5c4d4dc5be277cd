package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
)

// The harness's public URL is https://switchboard.test, so the relying
// party id is switchboard.test and ceremonies begun over the loopback
// address are bound to the public origin.
const (
	passkeyOrigin = "https://switchboard.test"
	passkeyRPID   = "switchboard.test"
)

func (f authFlow) beginRegistration(token string) passkeyOptions {
	f.t.Helper()
	var o passkeyOptions
	f.Call(http.StatusOK, "POST", "/api/v1/me/passkeys/register/begin", token, nil).Data(f.t, &o)
	return o
}

// registerPasskey adds a passkey held by a new software authenticator.
func (f authFlow) registerPasskey(token, name string) (*softAuthenticator, string) {
	f.t.Helper()
	a := newSoftAuthenticator(f.t, passkeyOrigin, passkeyRPID)
	o := f.beginRegistration(token)
	r := f.Call(http.StatusCreated, "POST", "/api/v1/me/passkeys/register/finish", token,
		map[string]any{"ceremonyId": o.CeremonyID, "name": name, "credential": a.create(o)})
	var p struct{ ID, Name string }
	r.Data(f.t, &p)
	if p.Name != name || !strings.HasPrefix(p.ID, "pkey_") {
		f.t.Fatalf("registered passkey: %s", r.Raw)
	}
	return a, p.ID
}

func (f authFlow) beginPasskeyLogin() passkeyOptions {
	f.t.Helper()
	var o passkeyOptions
	f.Call(http.StatusOK, "POST", "/api/v1/auth/passkey/begin", "", nil).Data(f.t, &o)
	return o
}

func (f authFlow) finishPasskeyLogin(o passkeyOptions, credential json.RawMessage) *apptest.Response {
	f.t.Helper()
	return f.post("/api/v1/auth/passkey/finish", "", map[string]any{"ceremonyId": o.CeremonyID, "credential": credential})
}

func (f authFlow) failedLogins(userID string) int {
	f.t.Helper()
	return f.count(`SELECT failed_login_count FROM users WHERE id = $1`, userID)
}

func TestPasskeys_RegisterThenSignInWithoutPassword(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("pk@example.com", authPassword)
		o := f.beginRegistration(s.AccessToken)
		if o.PublicKey.RP.ID != passkeyRPID || o.PublicKey.User.ID == "" || o.PublicKey.Challenge == "" {
			t.Fatalf("creation options: %+v", o.PublicKey)
		}
		a, id := f.registerPasskey(s.AccessToken, "Laptop")
		var list []struct {
			ID, Name   string
			LastUsedAt *time.Time
		}
		f.Call(http.StatusOK, "GET", "/api/v1/me/passkeys", s.AccessToken, nil).Items(t, &list)
		if len(list) != 1 || list[0].ID != id || list[0].LastUsedAt != nil {
			t.Fatalf("passkeys: %+v", list)
		}

		// Discoverable: no email, no allowCredentials; the user handle
		// names the account.
		lo := f.beginPasskeyLogin()
		if len(lo.PublicKey.AllowCredentials) != 0 || lo.PublicKey.RPID != passkeyRPID || lo.PublicKey.UserVerification != "required" {
			t.Fatalf("request options: %+v", lo.PublicKey)
		}
		r := f.finishPasskeyLogin(lo, a.get(lo))
		if r.Status != http.StatusOK {
			t.Fatalf("passkey sign-in: %d %s", r.Status, r.Raw)
		}
		var tok struct {
			AccessToken, RefreshToken string
			User                      struct{ ID string }
		}
		r.Data(t, &tok)
		if tok.User.ID != s.UserID || tok.RefreshToken == "" {
			t.Fatalf("tokens: %s", r.Raw)
		}
		if st := f.status("/api/v1/me", tok.AccessToken); st != http.StatusOK {
			t.Fatalf("GET /me with the passkey session: %d", st)
		}
		if m := f.auditMetadata("auth.login", "success"); len(m) == 0 || m[len(m)-1]["method"] != "passkey" || m[len(m)-1]["passkeyId"] != id {
			t.Fatalf("sign-in audit: %v", m)
		}

		// As a browser: the refresh token goes into the cookie, as for a
		// password sign-in.
		lo = f.beginPasskeyLogin()
		r = f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/passkey/finish", Headers: map[string]string{"Origin": f.URL},
			Body: map[string]any{"ceremonyId": lo.CeremonyID, "credential": a.get(lo), "session": "cookie"}})
		if r.Status != http.StatusOK || !strings.Contains(r.Header.Get("Set-Cookie"), "switchboard_refresh=sbr_") || strings.Contains(string(r.Raw), "refreshToken") {
			t.Fatalf("cookie sign-in: %d %v %s", r.Status, r.Header, r.Raw)
		}

		// Rename and delete, each audited; a deleted passkey signs in no more.
		f.Call(http.StatusOK, "PATCH", "/api/v1/me/passkeys/"+id, s.AccessToken, map[string]string{"name": "Work laptop"})
		f.Call(http.StatusOK, "GET", "/api/v1/me/passkeys", s.AccessToken, nil).Items(t, &list)
		if list[0].Name != "Work laptop" || list[0].LastUsedAt == nil {
			t.Fatalf("after rename: %+v", list)
		}
		f.Call(http.StatusOK, "DELETE", "/api/v1/me/passkeys/"+id, s.AccessToken, nil)
		for _, action := range []string{"auth.passkey_registered", "auth.passkey_renamed", "auth.passkey_deleted"} {
			if n := f.count(`SELECT count(*) FROM audit_logs WHERE action = $1 AND resource_id = $2`, action, id); n != 1 {
				t.Errorf("%d %s audit rows", n, action)
			}
		}
		lo = f.beginPasskeyLogin()
		f.wantErr(f.finishPasskeyLogin(lo, a.get(lo)), http.StatusUnauthorized, "UNAUTHORIZED", "")
	})
}

func TestPasskeys_AddedAndRemovedAreMailed(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("pk-mail@example.com", authPassword)
		_, id := f.registerPasskey(s.AccessToken, "Phone")
		if m := f.mailWith(s.Email, "passkey was added"); !strings.Contains(m.Body, `"Phone"`) {
			t.Fatalf("added mail: %s", m.Body)
		}
		f.Call(http.StatusOK, "DELETE", "/api/v1/me/passkeys/"+id, s.AccessToken, nil)
		f.mailWith(s.Email, "passkey was removed")
	}, withMail)
}

func TestPasskeys_AnswerFromAnotherOriginIsRefused(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("pk-origin@example.com", authPassword)
		// Registration from a phishing origin.
		evil := newSoftAuthenticator(t, "https://switchboard.test.evil.example", passkeyRPID)
		o := f.beginRegistration(s.AccessToken)
		f.wantErr(f.post("/api/v1/me/passkeys/register/finish", s.AccessToken,
			map[string]any{"ceremonyId": o.CeremonyID, "credential": evil.create(o)}), http.StatusBadRequest, "VALIDATION_ERROR", "")
		if n := f.count(`SELECT count(*) FROM passkeys WHERE user_id = $1`, s.UserID); n != 0 {
			t.Fatalf("%d passkeys stored from another origin", n)
		}
		// A sign-in signed by the right key but collected at another
		// origin is refused, and takes one of the account's tries.
		a, _ := f.registerPasskey(s.AccessToken, "Key")
		a.origin = "https://evil.example"
		lo := f.beginPasskeyLogin()
		f.wantErr(f.finishPasskeyLogin(lo, a.get(lo)), http.StatusUnauthorized, "UNAUTHORIZED", "")
		if n := f.failedLogins(s.UserID); n != 1 {
			t.Fatalf("failed_login_count %d after a refused passkey, want 1", n)
		}
		// A wrong relying party id too.
		a.origin, a.rpID = passkeyOrigin, "evil.example"
		lo = f.beginPasskeyLogin()
		f.wantErr(f.finishPasskeyLogin(lo, a.get(lo)), http.StatusUnauthorized, "UNAUTHORIZED", "")
		a.rpID = passkeyRPID
		lo = f.beginPasskeyLogin()
		if r := f.finishPasskeyLogin(lo, a.get(lo)); r.Status != http.StatusOK {
			t.Fatalf("right origin: %d %s", r.Status, r.Raw)
		}
		if n := f.failedLogins(s.UserID); n != 0 {
			t.Fatalf("failed_login_count %d after a good sign-in, want 0", n)
		}
	})
}

func TestPasskeys_SignCountThatGoesBackIsRefusedAndAudited(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("pk-clone@example.com", authPassword)
		a, id := f.registerPasskey(s.AccessToken, "Key")
		for range 3 {
			lo := f.beginPasskeyLogin()
			if r := f.finishPasskeyLogin(lo, a.get(lo)); r.Status != http.StatusOK {
				t.Fatalf("sign-in: %d %s", r.Status, r.Raw)
			}
		}
		if n := f.count(`SELECT sign_count FROM passkeys WHERE id = $1`, id); n != 3 {
			t.Fatalf("stored sign count %d, want 3", n)
		}
		// A copy of the key that signs with an older count.
		for _, count := range []uint32{2, 3} {
			lo := f.beginPasskeyLogin()
			r := f.finishPasskeyLogin(lo, a.getWithCount(lo, count))
			f.wantErr(r, http.StatusUnauthorized, "UNAUTHORIZED", "")
			if !strings.Contains(r.Body.Error.Message, "counter went backwards") {
				t.Fatalf("message: %s", r.Body.Error.Message)
			}
		}
		m := f.auditMetadata("auth.passkey_sign_count_regression", "failure")
		if len(m) != 2 || m[0]["storedCount"] != float64(3) || m[0]["presentedCount"] != float64(2) {
			t.Fatalf("regression audit: %v", m)
		}
		if n := f.count(`SELECT sign_count FROM passkeys WHERE id = $1`, id); n != 3 {
			t.Fatalf("stored sign count %d after refusals, want 3", n)
		}
	})
}

func TestPasskeys_CeremonyWorksOnceAndExpires(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("pk-once@example.com", authPassword)
		a, _ := f.registerPasskey(s.AccessToken, "Key")
		// A sign-in ceremony answered twice: the second is refused even
		// with a fresh signature.
		lo := f.beginPasskeyLogin()
		if r := f.finishPasskeyLogin(lo, a.get(lo)); r.Status != http.StatusOK {
			t.Fatalf("sign-in: %d %s", r.Status, r.Raw)
		}
		r := f.finishPasskeyLogin(lo, a.get(lo))
		f.wantErr(r, http.StatusBadRequest, "VALIDATION_ERROR", "")
		if !strings.Contains(string(r.Raw), "ceremonyId") {
			t.Fatalf("reuse answer: %s", r.Raw)
		}
		// Registration too.
		b := newSoftAuthenticator(t, passkeyOrigin, passkeyRPID)
		o := f.beginRegistration(s.AccessToken)
		body := map[string]any{"ceremonyId": o.CeremonyID, "credential": b.create(o)}
		f.Call(http.StatusCreated, "POST", "/api/v1/me/passkeys/register/finish", s.AccessToken, body)
		c := newSoftAuthenticator(t, passkeyOrigin, passkeyRPID)
		body["credential"] = c.create(o)
		f.wantErr(f.post("/api/v1/me/passkeys/register/finish", s.AccessToken, body), http.StatusBadRequest, "VALIDATION_ERROR", "")

		// Expired: 5 minutes after it began, a ceremony is void.
		lo = f.beginPasskeyLogin()
		f.exec(`UPDATE webauthn_ceremonies SET expires_at = $1 WHERE id = $2`, time.Now().Add(-time.Second).UTC(), lo.CeremonyID)
		f.wantErr(f.finishPasskeyLogin(lo, a.get(lo)), http.StatusBadRequest, "VALIDATION_ERROR", "")
		o = f.beginRegistration(s.AccessToken)
		f.exec(`UPDATE webauthn_ceremonies SET expires_at = $1 WHERE id = $2`, time.Now().Add(-time.Second).UTC(), o.CeremonyID)
		f.wantErr(f.post("/api/v1/me/passkeys/register/finish", s.AccessToken,
			map[string]any{"ceremonyId": o.CeremonyID, "credential": c.create(o)}), http.StatusBadRequest, "VALIDATION_ERROR", "")
		if n := f.count(`SELECT count(*) FROM webauthn_ceremonies WHERE id = $1 OR id = $2`, lo.CeremonyID, o.CeremonyID); n != 0 {
			t.Fatalf("%d used ceremonies left", n)
		}
	})
}

func TestPasskeys_AnotherAccountsPasskeyIsNotFound(t *testing.T) {
	runAuth(t, func(f authFlow) {
		ann := f.SignUp("pk-ann@example.com", authPassword)
		bob := f.SignUp("pk-bob@example.com", authPassword)
		_, id := f.registerPasskey(ann.AccessToken, "Ann's key")
		f.wantErr(f.Do(apptest.Request{Method: "PATCH", Path: "/api/v1/me/passkeys/" + id, Token: bob.AccessToken,
			Body: map[string]string{"name": "mine"}}), http.StatusNotFound, "NOT_FOUND", "passkey not found")
		f.wantErr(f.Do(apptest.Request{Method: "DELETE", Path: "/api/v1/me/passkeys/" + id, Token: bob.AccessToken}),
			http.StatusNotFound, "NOT_FOUND", "passkey not found")
		var list []struct{ ID string }
		f.Call(http.StatusOK, "GET", "/api/v1/me/passkeys", bob.AccessToken, nil).Items(t, &list)
		if len(list) != 0 {
			t.Fatalf("Bob sees %v", list)
		}
		if n := f.count(`SELECT count(*) FROM passkeys WHERE id = $1 AND name = $2`, id, "Ann's key"); n != 1 {
			t.Fatal("Ann's passkey changed")
		}
		// Bob cannot finish a registration Ann began (it would add a key to
		// his account with her challenge, or to hers).
		o := f.beginRegistration(ann.AccessToken)
		k := newSoftAuthenticator(t, passkeyOrigin, passkeyRPID)
		f.wantErr(f.post("/api/v1/me/passkeys/register/finish", bob.AccessToken,
			map[string]any{"ceremonyId": o.CeremonyID, "credential": k.create(o)}), http.StatusBadRequest, "VALIDATION_ERROR", "")
		// An API key cannot manage passkeys.
		var key struct{ Key string }
		f.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", ann.AccessToken, map[string]string{"name": "ci"}).Data(t, &key)
		f.wantErr(f.post("/api/v1/me/passkeys/register/begin", key.Key, nil), http.StatusForbidden, "FORBIDDEN", "")
		f.wantErr(f.Do(apptest.Request{Method: "DELETE", Path: "/api/v1/me/passkeys/" + id, Token: key.Key}), http.StatusForbidden, "FORBIDDEN", "")
	})
}

func TestPasskeys_RefusedAnswersShareThePasswordLockout(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("pk-lock@example.com", authPassword)
		a, _ := f.registerPasskey(s.AccessToken, "Key")
		good := a.rpID
		a.rpID = "evil.example"
		for range 5 {
			lo := f.beginPasskeyLogin()
			f.wantErr(f.finishPasskeyLogin(lo, a.get(lo)), http.StatusUnauthorized, "UNAUTHORIZED", "")
		}
		if f.lockedUntil(s.UserID).IsZero() {
			t.Fatal("five refused passkeys did not lock the account")
		}
		// Locked: the right passkey and the right password are refused.
		a.rpID = good
		lo := f.beginPasskeyLogin()
		f.wantErr(f.finishPasskeyLogin(lo, a.get(lo)), http.StatusUnauthorized, "UNAUTHORIZED", "")
		f.wantErr(f.login(s.Email, authPassword), http.StatusUnauthorized, "UNAUTHORIZED", "invalid email or password")
	})
}

func TestPasskeys_ParallelRefusedAnswersVerifyAtMostTheAllowedTries(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("pk-race@example.com", authPassword)
		a, _ := f.registerPasskey(s.AccessToken, "Key")
		a.origin = "https://evil.example"
		const n = 20
		answers := make([]map[string]any, n)
		for i := range answers {
			lo := f.beginPasskeyLogin()
			answers[i] = map[string]any{"ceremonyId": lo.CeremonyID, "credential": a.get(lo)}
		}
		var wg sync.WaitGroup
		statuses := make([]int, n)
		for i := range answers {
			wg.Go(func() { statuses[i] = f.post("/api/v1/auth/passkey/finish", "", answers[i]).Status })
		}
		wg.Wait()
		for i, st := range statuses {
			if st != http.StatusUnauthorized {
				t.Fatalf("answer %d: %d", i, st)
			}
		}
		// Each verified answer reserved one of the five tries first; the rest
		// found the account locked and were refused unverified.
		verified := f.count(`SELECT count(*) FROM audit_logs WHERE action = 'auth.login' AND status = 'failure' AND user_id = $1
			AND CAST(metadata AS TEXT) LIKE '%passkey_refused%'`, s.UserID)
		locked := f.count(`SELECT count(*) FROM audit_logs WHERE action = 'auth.login' AND status = 'failure' AND user_id = $1
			AND CAST(metadata AS TEXT) LIKE '%"locked"%'`, s.UserID)
		if verified != 5 || verified+locked != n || f.lockedUntil(s.UserID).IsZero() {
			t.Fatalf("%d answers verified, %d refused as locked, locked until %v", verified, locked, f.lockedUntil(s.UserID))
		}
	})
}

func TestPasskeys_UserHandleOfNoAccountIsRefused(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("pk-handle@example.com", authPassword)
		a, _ := f.registerPasskey(s.AccessToken, "Key")
		for _, handle := range [][]byte{{0, 0xff, 0xfe, 'x'}, []byte("usr_01h455vb4pex5vsknk084sn02q"), []byte("'; DROP TABLE users; --")} {
			a.userHandle = handle
			lo := f.beginPasskeyLogin()
			f.wantErr(f.finishPasskeyLogin(lo, a.get(lo)), http.StatusUnauthorized, "UNAUTHORIZED", "the passkey was not accepted: no account uses it")
		}
		// Someone else's handle with this key: refused, and it takes one of
		// that account's tries.
		other := f.SignUp("pk-other@example.com", authPassword)
		a.userHandle = []byte(other.UserID)
		lo := f.beginPasskeyLogin()
		f.wantErr(f.finishPasskeyLogin(lo, a.get(lo)), http.StatusUnauthorized, "UNAUTHORIZED", "")
		if n := f.failedLogins(other.UserID); n != 1 {
			t.Fatalf("failed_login_count of the named account %d, want 1", n)
		}
	})
}

func TestPasskeys_OffWhenTheRelyingPartyIDIsAnIPAddress(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("pk-ip@example.com", authPassword)
		for _, r := range []*apptest.Response{
			f.post("/api/v1/me/passkeys/register/begin", s.AccessToken, nil),
			f.post("/api/v1/auth/passkey/begin", "", nil),
			f.post("/api/v1/auth/passkey/finish", "", map[string]any{"ceremonyId": "wac_x", "credential": map[string]any{}}),
		} {
			f.wantErr(r, http.StatusConflict, "PASSKEYS_UNAVAILABLE", "")
			if !strings.Contains(r.Body.Error.Message, "--webauthn-rp-id") || !strings.Contains(r.Body.Error.Message, "IP address") {
				t.Fatalf("message: %s", r.Body.Error.Message)
			}
		}
		// Everything else works.
		f.Login(s.Email, authPassword)
	}, func(c *config.Config) { c.PublicURL, c.WebAuthnRPID = "http://127.0.0.1:8080", "127.0.0.1" })
}
