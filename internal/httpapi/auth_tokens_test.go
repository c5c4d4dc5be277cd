package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboard/switchboard/internal/app/apptest"
)

func TestLogin_IssuesShortLivedJWTCarryingTheTokenPayload(t *testing.T) {
	runAuth(t, func(f authFlow) {
		f.Call(http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{"email": "jwt@example.com", "password": authPassword})
		r := f.Call(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "JWT@example.com", "password": authPassword})
		var tok struct {
			AccessToken, RefreshToken string
			ExpiresIn                 int
			User                      map[string]any
		}
		r.Data(f.t, &tok)
		if tok.AccessToken == "" || tok.RefreshToken == "" || tok.ExpiresIn <= 0 || tok.ExpiresIn > 900 {
			f.t.Fatalf("login answer: %s", r.Raw)
		}
		if tok.User["email"] != "jwt@example.com" || strings.Contains(string(r.Raw), "argon2") {
			f.t.Fatalf("login answer user: %s", r.Raw)
		}
		// The refresh token is opaque and carries at least 128 random bits.
		if len(tok.RefreshToken) < 22 || strings.Count(tok.RefreshToken, ".") == 2 {
			f.t.Fatalf("refresh token %q is not an opaque ≥128-bit token", tok.RefreshToken)
		}
		header, claims := tokenClaims(f.t, tok.AccessToken)
		if header["alg"] != "HS256" {
			f.t.Fatalf("JWT header %v", header)
		}
		for _, k := range []string{"userId", "email", "plan", "sessionId", "role", "iss", "aud", "exp", "nbf", "iat"} {
			if _, ok := claims[k]; !ok {
				f.t.Errorf("JWT payload lacks %q: %v", k, claims)
			}
		}
		if claims["userId"] != tok.User["id"] || claims["email"] != "jwt@example.com" || claims["plan"] != "FREE" ||
			claims["role"] != "MEMBER" || !strings.HasPrefix(claims["sessionId"].(string), "ses_") {
			f.t.Fatalf("JWT payload %v", claims)
		}
		exp, iat := claims["exp"].(float64), claims["iat"].(float64)
		if life := exp - iat; life <= 0 || life > 900 {
			f.t.Fatalf("access token lives %vs, want ≤ 900", life)
		}
		if d := time.Until(time.Unix(int64(exp), 0)); d > 15*time.Minute+5*time.Second {
			f.t.Fatalf("access token expires in %s", d)
		}
		f.Call(http.StatusOK, "GET", "/api/v1/me", tok.AccessToken, nil)
	})
}

func TestAccessToken_ForgedExpiredOrMisaddressedIsRefused(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("forge@example.com", authPassword)
		_, real := tokenClaims(f.t, s.AccessToken)
		key := f.signingKey()
		now := time.Now()
		sign := func(method jwt.SigningMethod, k []byte, change func(c jwt.MapClaims)) string {
			c := jwt.MapClaims(maps.Clone(real))
			if change != nil {
				change(c)
			}
			tok, err := jwt.NewWithClaims(method, c).SignedString(k)
			if err != nil {
				f.t.Fatal(err)
			}
			return tok
		}
		unsigned := func(alg string) string {
			h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
			p, _ := json.Marshal(real)
			return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
		}
		// The same claims signed with the node's own key pass: each case
		// below differs from a valid token in one respect only.
		f.Call(http.StatusOK, "GET", "/api/v1/me", sign(jwt.SigningMethodHS256, key, nil), nil)

		realSig := s.AccessToken[strings.LastIndexByte(s.AccessToken, '.')+1:]
		cases := []struct{ name, token string }{
			{"alg none", unsigned("none")},
			{"alg None", unsigned("None")},
			{"alg none with the real signature", strings.TrimSuffix(unsigned("none"), ".") + "." + realSig},
			{"other key", sign(jwt.SigningMethodHS256, []byte("another key that is thirty-two bytes long!"), nil)},
			{"algorithm outside the allow-list", sign(jwt.SigningMethodHS512, key, nil)},
			{"expired", sign(jwt.SigningMethodHS256, key, func(c jwt.MapClaims) {
				c["iat"], c["nbf"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
			})},
			{"no expiry", sign(jwt.SigningMethodHS256, key, func(c jwt.MapClaims) { delete(c, "exp") })},
			{"not yet valid", sign(jwt.SigningMethodHS256, key, func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })},
			{"issued in the future", sign(jwt.SigningMethodHS256, key, func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })},
			{"wrong audience", sign(jwt.SigningMethodHS256, key, func(c jwt.MapClaims) { c["aud"] = []string{"another-service"} })},
			{"wrong issuer", sign(jwt.SigningMethodHS256, key, func(c jwt.MapClaims) { c["iss"] = "someone-else" })},
			{"payload tampered", func() string {
				parts := strings.Split(s.AccessToken, ".")
				c := maps.Clone(real)
				c["role"] = "SUPER_ADMIN"
				p, _ := json.Marshal(c)
				return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
			}()},
			{"unknown session", sign(jwt.SigningMethodHS256, key, func(c jwt.MapClaims) { c["sessionId"] = "ses_01jabcdefghjkmnpqrstvwxyz0" })},
			{"garbage", "not.a.jwt"},
		}
		for _, tc := range cases {
			r := f.Do(apptest.Request{Method: "GET", Path: "/api/v1/me", Token: tc.token})
			if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHORIZED" {
				f.t.Errorf("%s: %d %s", tc.name, r.Status, r.Raw)
			}
		}
		// A role claim is never trusted over the database: a MEMBER token
		// re-signed as SUPER_ADMIN with the real key still acts as a MEMBER.
		admin := sign(jwt.SigningMethodHS256, key, func(c jwt.MapClaims) { c["role"] = "SUPER_ADMIN" })
		f.wantErr(f.Do(apptest.Request{Method: "GET", Path: "/api/v1/admin/users", Token: admin}), http.StatusForbidden, "FORBIDDEN", "")
	})
}

func TestRefresh_RotatesAndReuseRevokesTheSession(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("rotate@example.com", authPassword)
		other := f.Login("rotate@example.com", authPassword)
		refresh := func(token string) *apptest.Response {
			return f.post("/api/v1/auth/refresh", "", map[string]string{"refreshToken": token})
		}
		r := refresh(s.RefreshToken)
		if r.Status != http.StatusOK {
			f.t.Fatalf("refresh: %d %s", r.Status, r.Raw)
		}
		var next struct {
			AccessToken, RefreshToken string
			ExpiresIn                 int
		}
		r.Data(f.t, &next)
		if next.RefreshToken == "" || next.RefreshToken == s.RefreshToken || next.ExpiresIn <= 0 || next.ExpiresIn > 900 {
			f.t.Fatalf("refresh answer: %s", r.Raw)
		}
		_, c1 := tokenClaims(f.t, s.AccessToken)
		_, c2 := tokenClaims(f.t, next.AccessToken)
		if c1["sessionId"] != c2["sessionId"] {
			f.t.Fatalf("refresh moved to session %v from %v", c2["sessionId"], c1["sessionId"])
		}
		f.Call(http.StatusOK, "GET", "/api/v1/me", next.AccessToken, nil)

		// The rotated token is spent; showing it again revokes the session.
		f.wantErr(refresh(s.RefreshToken), http.StatusUnauthorized, "UNAUTHORIZED",
			"refresh token was already used; the session has been revoked, sign in again")
		for name, tok := range map[string]string{"new access token": next.AccessToken, "first access token": s.AccessToken} {
			if st := f.status("/api/v1/me", tok); st != http.StatusUnauthorized {
				f.t.Errorf("%s after reuse: %d", name, st)
			}
		}
		f.wantErr(refresh(next.RefreshToken), http.StatusUnauthorized, "UNAUTHORIZED", "refresh token is invalid or expired")
		if n := f.count(`SELECT count(*) FROM audit_logs WHERE action = 'auth.refresh_token_reuse'`); n != 1 {
			f.t.Errorf("%d refresh_token_reuse audit rows", n)
		}
		// Another session of the same account is untouched.
		f.Call(http.StatusOK, "GET", "/api/v1/me", other.AccessToken, nil)
		if r := refresh(other.RefreshToken); r.Status != http.StatusOK {
			f.t.Fatalf("other session's refresh: %d %s", r.Status, r.Raw)
		}

		f.wantErr(refresh("sbr_"+strings.Repeat("x", 43)), http.StatusUnauthorized, "UNAUTHORIZED", "refresh token is invalid or expired")
		f.wantErr(refresh(""), http.StatusBadRequest, "VALIDATION_ERROR", "refreshToken: is required")
		// An access token is no refresh token.
		f.wantErr(refresh(other.AccessToken), http.StatusUnauthorized, "UNAUTHORIZED", "refresh token is invalid or expired")
	})
}

func TestRefresh_ParallelUseOfOneTokenSucceedsAtMostOnce(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("twice@example.com", authPassword)
		const n = 6
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := http.Post(f.URL+"/api/v1/auth/refresh", "application/json",
					strings.NewReader(`{"refreshToken":"`+s.RefreshToken+`"}`))
				if err == nil {
					res.Body.Close()
					statuses[i] = res.StatusCode
				}
			}()
		}
		wg.Wait()
		ok := 0
		for _, st := range statuses {
			if st == http.StatusOK {
				ok++
			} else if st != http.StatusUnauthorized {
				f.t.Fatalf("parallel refreshes answered %v", statuses)
			}
		}
		if ok > 1 {
			f.t.Fatalf("one refresh token was exchanged %d times: %v", ok, statuses)
		}
		// Every losing racer showed a spent token: the session is gone.
		if f.status("/api/v1/me", s.AccessToken) != http.StatusUnauthorized {
			f.t.Fatal("session survived a reused refresh token")
		}
	})
}

func TestLogout_EndsThisSessionAtOnceAndLogoutAllEndsEvery(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s1 := f.SignUp("bye@example.com", authPassword)
		s2 := f.Login("bye@example.com", authPassword)
		s3 := f.Login("bye@example.com", authPassword)
		other := f.SignUp("stay@example.com", authPassword)

		f.Call(http.StatusOK, "POST", "/api/v1/auth/logout", s1.AccessToken, nil)
		f.wantErr(f.Do(apptest.Request{Method: "GET", Path: "/api/v1/me", Token: s1.AccessToken}),
			http.StatusUnauthorized, "UNAUTHORIZED", "session has ended; sign in again")
		f.wantErr(f.post("/api/v1/auth/refresh", "", map[string]string{"refreshToken": s1.RefreshToken}),
			http.StatusUnauthorized, "UNAUTHORIZED", "")
		f.Call(http.StatusOK, "GET", "/api/v1/me", s2.AccessToken, nil)
		f.Call(http.StatusUnauthorized, "POST", "/api/v1/auth/logout", s1.AccessToken, nil)

		var out struct{ Revoked int }
		f.Call(http.StatusOK, "POST", "/api/v1/auth/logout-all", s2.AccessToken, nil).Data(f.t, &out)
		if out.Revoked != 2 {
			f.t.Errorf("logout-all revoked %d sessions, want 2", out.Revoked)
		}
		for _, s := range []apptest.Session{s1, s2, s3} {
			if st := f.status("/api/v1/me", s.AccessToken); st != http.StatusUnauthorized {
				f.t.Errorf("access token after logout-all: %d", st)
			}
			if r := f.post("/api/v1/auth/refresh", "", map[string]string{"refreshToken": s.RefreshToken}); r.Status != http.StatusUnauthorized {
				f.t.Errorf("refresh after logout-all: %d", r.Status)
			}
		}
		f.Call(http.StatusOK, "GET", "/api/v1/me", other.AccessToken, nil)
		f.Call(http.StatusUnauthorized, "POST", "/api/v1/auth/logout", "", nil)
		f.Login("bye@example.com", authPassword)
	})
}
