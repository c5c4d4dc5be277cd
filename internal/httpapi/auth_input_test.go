package httpapi_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
)

// storedState counts what a refused request must not change.
func (f authFlow) storedState() map[string]int {
	f.t.Helper()
	out := map[string]int{}
	for _, table := range []string{"users", "sessions", "refresh_tokens", "api_keys", "password_reset_tokens",
		"email_verification_tokens", "audit_logs"} {
		out[table] = f.count(`SELECT count(*) FROM ` + table)
	}
	out["verified"] = f.count(`SELECT count(*) FROM users WHERE email_verified_at IS NOT NULL`)
	out["named"] = f.count(`SELECT count(*) FROM users WHERE name <> ''`)
	return out
}

func TestBadInput_GetsAPreciseEnvelopeAndChangesNothing(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("input@example.com", authPassword)
		signup := func(email, password string) string {
			b, _ := json.Marshal(map[string]string{"email": email, "password": password, "name": "x"})
			return string(b)
		}
		const (
			v       = "VALIDATION_ERROR"
			badMail = "email: is not a valid email address"
		)
		cases := []struct {
			name, method, path, contentType, body string
			token                                 bool
			status                                int
			code, msg                             string
		}{
			{"truncated JSON", "POST", "/api/v1/auth/signup", "", `{"email": "a@example.com",`, false, 400, v, "request body is truncated JSON"},
			{"malformed JSON", "POST", "/api/v1/auth/login", "", `{"email" "a@example.com"}`, false, 400, v,
				"malformed JSON at byte 10: invalid character '\"' after object key"},
			{"empty body", "POST", "/api/v1/auth/signup", "", ``, false, 400, v, "request body is empty; a JSON object is required"},
			{"array body", "POST", "/api/v1/auth/signup", "", `[]`, false, 400, v, "request body must be a JSON object, not array"},
			{"two objects", "POST", "/api/v1/auth/signup", "", signup("two@example.com", authPassword) + `{}`, false, 400, v,
				"request body must hold a single JSON object"},
			{"email as number", "POST", "/api/v1/auth/signup", "", `{"email": 42, "password": "correct horse battery"}`, false, 400, v,
				"email: must be a string, not number"},
			{"password as object", "POST", "/api/v1/auth/login", "", `{"email": "input@example.com", "password": {}}`, false, 400, v,
				"password: must be a string, not object"},
			{"token as bool", "POST", "/api/v1/auth/password/reset", "", `{"token": true, "password": "correct horse battery"}`, false, 400, v,
				"token: must be a string, not bool"},
			{"expiry as string", "POST", "/api/v1/me/api-keys", "", `{"name": "ci", "expiresInDays": "ten"}`, true, 400, v,
				"expiresInDays: must be a number, not string"},
			{"unknown field", "POST", "/api/v1/auth/signup", "", `{"email": "role@example.com", "password": "correct horse battery", "role": "SUPER_ADMIN"}`,
				false, 400, v, "role: unknown field"},
			{"unknown field on me", "PATCH", "/api/v1/me", "", `{"name": "x", "plan": "ENTERPRISE"}`, true, 400, v, "plan: unknown field"},
			{"text/plain", "POST", "/api/v1/auth/signup", "text/plain", signup("plain@example.com", authPassword), false, 415, "UNSUPPORTED_MEDIA_TYPE",
				`Content-Type must be application/json, not "text/plain"`},
			{"form", "POST", "/api/v1/auth/login", "application/x-www-form-urlencoded", "email=input%40example.com&password=x", false, 415, "UNSUPPORTED_MEDIA_TYPE",
				`Content-Type must be application/json, not "application/x-www-form-urlencoded"`},
			{"null body", "POST", "/api/v1/auth/signup", "", `null`, false, 400, v, "request body must be a JSON object, not null"},
			{"no at sign", "POST", "/api/v1/auth/signup", "", signup("plainaddress", authPassword), false, 400, v, badMail},
			{"no domain dot", "POST", "/api/v1/auth/signup", "", signup("a@localhost", authPassword), false, 400, v, badMail},
			{"space inside", "POST", "/api/v1/auth/signup", "", signup("a b@example.com", authPassword), false, 400, v, badMail},
			{"display name", "POST", "/api/v1/auth/signup", "", signup("Ada <ada@example.com>", authPassword), false, 400, v, badMail},
			{"two addresses", "POST", "/api/v1/auth/signup", "", signup("a@example.com, b@example.com", authPassword), false, 400, v, badMail},
			{"empty email", "POST", "/api/v1/auth/signup", "", signup("", authPassword), false, 400, v, "email: is required"},
			{"long email", "POST", "/api/v1/auth/signup", "", signup(strings.Repeat("a", 250)+"@example.com", authPassword), false, 400, v,
				"email: must be at most 254 characters"},
			{"short password", "POST", "/api/v1/auth/signup", "", signup("short@example.com", "seven!!"), false, 400, v,
				"password: must be at least 8 characters"},
			{"short in runes", "POST", "/api/v1/auth/signup", "", signup("runes@example.com", "ééééééé"), false, 400, v,
				"password: must be at least 8 characters"},
			{"long password", "POST", "/api/v1/auth/signup", "", signup("long@example.com", strings.Repeat("p", 129)), false, 400, v,
				"password: must be at most 128 characters"},
			{"common password", "POST", "/api/v1/auth/signup", "", signup("common@example.com", "password"), false, 400, v,
				"password: is one of the most commonly used passwords; choose another"},
			{"common password, other case", "POST", "/api/v1/auth/signup", "", signup("common@example.com", "PassWord"), false, 400, v,
				"password: is one of the most commonly used passwords; choose another"},
			{"common digits", "POST", "/api/v1/auth/signup", "", signup("common@example.com", "12345678"), false, 400, v,
				"password: is one of the most commonly used passwords; choose another"},
			{"common with a digit", "POST", "/api/v1/auth/signup", "", signup("common@example.com", "password1"), false, 400, v,
				"password: is one of the most commonly used passwords; choose another"},
			{"common phrase", "POST", "/api/v1/auth/signup", "", signup("common@example.com", "iloveyou"), false, 400, v,
				"password: is one of the most commonly used passwords; choose another"},
			{"common on reset", "POST", "/api/v1/auth/password/reset", "", `{"token": "x", "password": "password"}`, false, 400, v,
				"password: is one of the most commonly used passwords; choose another"},
			{"short new password", "POST", "/api/v1/me/password", "", `{"currentPassword": "correct horse battery", "newPassword": "short"}`, true, 400, v,
				"newPassword: must be at least 8 characters"},
			{"long name", "POST", "/api/v1/auth/signup", "", `{"email": "name@example.com", "password": "correct horse battery", "name": "` + strings.Repeat("n", 101) + `"}`,
				false, 400, v, "name: must be at most 100 characters"},
			{"invalid email on me", "PATCH", "/api/v1/me", "", `{"email": "nope"}`, true, 400, v, badMail},
			{"nothing to change", "PATCH", "/api/v1/me", "", `{}`, true, 400, v, "nothing to update: send name or email"},
			{"key without name", "POST", "/api/v1/me/api-keys", "", `{"name": " "}`, true, 400, v, "name: is required"},
			{"negative expiry", "POST", "/api/v1/me/api-keys", "", `{"name": "ci", "expiresInDays": -1}`, true, 400, v,
				"expiresInDays: must be between 1 and 3650, or omitted for no expiry"},
			{"empty login", "POST", "/api/v1/auth/login", "", `{"email": "", "password": ""}`, false, 400, v, "2 fields are invalid"},
			{"login without password", "POST", "/api/v1/auth/login", "", `{"email": "input@example.com"}`, false, 400, v, "password: is required"},
			{"login without email", "POST", "/api/v1/auth/login", "", `{"password": "correct horse battery"}`, false, 400, v, "email: is required"},
			{"empty token", "POST", "/api/v1/auth/email/verify", "", `{"token": ""}`, false, 400, v, "token: is required"},
		}
		before := f.storedState()
		for _, tc := range cases {
			req := apptest.Request{Method: tc.method, Path: tc.path, Body: tc.body, Headers: map[string]string{}}
			if tc.contentType != "" {
				req.Headers["Content-Type"] = tc.contentType
			}
			if tc.token {
				req.Token = s.AccessToken
			}
			r := f.Do(req)
			if r.Status != tc.status || r.Code() != tc.code || r.Body.Error == nil || r.Body.Error.Message != tc.msg {
				f.t.Errorf("%s: %d %s, want %d %s %q", tc.name, r.Status, r.Raw, tc.status, tc.code, tc.msg)
			}
		}
		if after := f.storedState(); !maps.Equal(before, after) {
			f.t.Fatalf("refused requests changed stored state: %v → %v", before, after)
		}
	})
}

func TestBadInput_BodyOverOneMiBIs413(t *testing.T) {
	runAuth(t, func(f authFlow) {
		before := f.count(`SELECT count(*) FROM users`)
		huge := `{"email": "big@example.com", "password": "correct horse battery", "name": "` + strings.Repeat("n", 1<<20) + `"}`
		const msg = "request body exceeds 1048576 bytes"
		// With a Content-Length the node refuses before reading; without
		// one (chunked) it stops reading at the limit.
		f.wantErr(f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/signup", Body: huge}),
			http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", msg)

		req, err := http.NewRequest("POST", f.URL+"/api/v1/auth/signup", io.MultiReader(strings.NewReader(huge)))
		if err != nil {
			f.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			f.t.Fatalf("chunked upload: %v", err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(raw), `"code":"PAYLOAD_TOO_LARGE"`) ||
			!strings.Contains(string(raw), msg) {
			f.t.Fatalf("chunked oversized body: %d %s", res.StatusCode, raw)
		}
		if after := f.count(`SELECT count(*) FROM users`); after != before {
			f.t.Fatalf("users %d → %d", before, after)
		}
	})
}
