package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
)

const refreshCookieName = "switchboard_refresh"

// refreshCookieOf returns the session cookie a response set, or nil.
func refreshCookieOf(r *apptest.Response) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == refreshCookieName {
			return c
		}
	}
	return nil
}

// cookieLogin signs up and signs in as a browser would, from origin.
func cookieLogin(f authFlow, email, origin string) *apptest.Response {
	f.t.Helper()
	f.Call(http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{"email": email, "password": authPassword, "name": "Browser"})
	return f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/login", Headers: map[string]string{"Origin": origin},
		Body: map[string]string{"email": email, "password": authPassword, "session": "cookie"}})
}

func TestCookieSession_LoginSetsAStrictHttpOnlyCookieAndKeepsTheTokenOutOfTheBody(t *testing.T) {
	runAuth(t, func(f authFlow) {
		r := cookieLogin(f, "cookie@example.com", f.URL)
		if r.Status != http.StatusOK {
			f.t.Fatalf("login: %d %s", r.Status, r.Raw)
		}
		c := refreshCookieOf(r)
		if c == nil {
			f.t.Fatalf("no %s cookie: %v", refreshCookieName, r.Header.Values("Set-Cookie"))
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/api/v1/auth" || c.Value == "" || c.MaxAge <= 0 {
			f.t.Errorf("cookie attributes: %s", r.Header.Get("Set-Cookie"))
		}
		// The harness's public URL is https.
		if !c.Secure {
			f.t.Errorf("cookie not Secure under an https public URL: %s", r.Header.Get("Set-Cookie"))
		}
		if strings.Contains(string(r.Raw), "refreshToken") || strings.Contains(string(r.Raw), c.Value) {
			f.t.Errorf("the refresh token is in the body: %s", r.Raw)
		}
		var tok struct{ AccessToken string }
		r.Data(f.t, &tok)
		f.Call(http.StatusOK, "GET", "/api/v1/me", tok.AccessToken, nil)

		// Without "session", the token stays in the body as before.
		plain := f.Call(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": "cookie@example.com", "password": authPassword})
		if refreshCookieOf(plain) != nil || !strings.Contains(string(plain.Raw), `"refreshToken"`) {
			f.t.Errorf("a plain login changed: %v %s", plain.Header.Values("Set-Cookie"), plain.Raw)
		}
		bad := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/login", Headers: map[string]string{"Origin": f.URL},
			Body: map[string]string{"email": "cookie@example.com", "password": authPassword, "session": "jar"}})
		f.wantErr(bad, http.StatusBadRequest, "VALIDATION_ERROR", "")
	})
}

func TestCookieSession_NoSecureFlagOverPlainHTTP(t *testing.T) {
	runAuth(t, func(f authFlow) {
		r := cookieLogin(f, "plain@example.com", "http://localhost:8080")
		c := refreshCookieOf(r)
		if r.Status != http.StatusOK || c == nil || c.Secure {
			f.t.Fatalf("login over http: %d %v %s", r.Status, r.Header.Values("Set-Cookie"), r.Raw)
		}
	}, func(c *config.Config) { c.PublicURL = "http://localhost:8080" })
}

func TestCookieSession_ForeignOriginRefused(t *testing.T) {
	runAuth(t, func(f authFlow) {
		for _, origin := range []string{"", "https://evil.example", "null", "http://switchboard.test"} {
			r := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/login", Headers: map[string]string{"Origin": origin},
				Body: map[string]string{"email": "x@example.com", "password": authPassword, "session": "cookie"}})
			f.wantErr(r, http.StatusForbidden, "FORBIDDEN", "")
		}
		r := cookieLogin(f, "origin@example.com", "https://switchboard.test") // the public URL's origin
		c := refreshCookieOf(r)
		if r.Status != http.StatusOK || c == nil {
			f.t.Fatalf("login from the public origin: %d %s", r.Status, r.Raw)
		}
		cookie := refreshCookieName + "=" + c.Value
		for _, origin := range []string{"", "https://evil.example"} {
			ref := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]string{"session": "cookie"},
				Headers: map[string]string{"Origin": origin, "Cookie": cookie}})
			f.wantErr(ref, http.StatusForbidden, "FORBIDDEN", "")
		}
		var tok struct{ AccessToken string }
		r.Data(f.t, &tok)
		out := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/logout", Token: tok.AccessToken,
			Headers: map[string]string{"Origin": "https://evil.example", "Cookie": cookie}})
		f.wantErr(out, http.StatusForbidden, "FORBIDDEN", "")
		// Refused requests spent nothing: the cookie still works at home.
		ok := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]string{"session": "cookie"},
			Headers: map[string]string{"Origin": f.URL, "Cookie": cookie}})
		if ok.Status != http.StatusOK {
			f.t.Fatalf("refresh from the own origin after refusals: %d %s", ok.Status, ok.Raw)
		}
	})
}

func TestCookieSession_RefreshRotatesTheCookie(t *testing.T) {
	runAuth(t, func(f authFlow) {
		r := cookieLogin(f, "rotate@example.com", f.URL)
		first := refreshCookieOf(r)
		if first == nil {
			f.t.Fatalf("login: %d %s", r.Status, r.Raw)
		}
		ref := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]string{"session": "cookie"},
			Headers: map[string]string{"Origin": f.URL, "Cookie": refreshCookieName + "=" + first.Value}})
		second := refreshCookieOf(ref)
		if ref.Status != http.StatusOK || second == nil || second.Value == "" || second.Value == first.Value {
			f.t.Fatalf("refresh: %d %v %s", ref.Status, ref.Header.Values("Set-Cookie"), ref.Raw)
		}
		if !second.HttpOnly || second.SameSite != http.SameSiteStrictMode || second.Path != "/api/v1/auth" {
			f.t.Errorf("rotated cookie attributes: %s", ref.Header.Get("Set-Cookie"))
		}
		if strings.Contains(string(ref.Raw), "refreshToken") {
			f.t.Errorf("the refresh token is in the body: %s", ref.Raw)
		}
		var tok struct{ AccessToken string }
		ref.Data(f.t, &tok)
		f.Call(http.StatusOK, "GET", "/api/v1/me", tok.AccessToken, nil)
		// The spent cookie is refused, and the browser is told to drop it.
		again := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]string{"session": "cookie"},
			Headers: map[string]string{"Origin": f.URL, "Cookie": refreshCookieName + "=" + first.Value}})
		f.wantErr(again, http.StatusUnauthorized, "UNAUTHORIZED", "")
		if c := refreshCookieOf(again); c == nil || c.MaxAge >= 0 {
			f.t.Errorf("a refused cookie is not cleared: %v", again.Header.Values("Set-Cookie"))
		}
		// No cookie at all: 401, not a validation error.
		none := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]string{"session": "cookie"},
			Headers: map[string]string{"Origin": f.URL}})
		f.wantErr(none, http.StatusUnauthorized, "UNAUTHORIZED", "")
	})
}

func TestCookieSession_LogoutClearsTheCookie(t *testing.T) {
	runAuth(t, func(f authFlow) {
		r := cookieLogin(f, "bye@example.com", f.URL)
		c := refreshCookieOf(r)
		if c == nil {
			f.t.Fatalf("login: %d %s", r.Status, r.Raw)
		}
		var tok struct{ AccessToken string }
		r.Data(f.t, &tok)
		cookie := refreshCookieName + "=" + c.Value
		out := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/logout", Token: tok.AccessToken,
			Headers: map[string]string{"Origin": f.URL, "Cookie": cookie}})
		if out.Status != http.StatusOK {
			f.t.Fatalf("logout: %d %s", out.Status, out.Raw)
		}
		cleared := refreshCookieOf(out)
		if cleared == nil || cleared.MaxAge >= 0 || cleared.Value != "" || cleared.Path != "/api/v1/auth" || !cleared.HttpOnly {
			f.t.Fatalf("logout did not clear the cookie: %v", out.Header.Values("Set-Cookie"))
		}
		ref := f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]string{"session": "cookie"},
			Headers: map[string]string{"Origin": f.URL, "Cookie": cookie}})
		f.wantErr(ref, http.StatusUnauthorized, "UNAUTHORIZED", "")
	})
}
