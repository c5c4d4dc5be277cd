package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
)

const resetSubject = "Reset your Switchboard password"

func TestForgotPassword_AnswersAlikeForKnownAndUnknownEmails(t *testing.T) {
	runAuth(t, func(f authFlow) {
		f.Call(http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{"email": "known@example.com", "password": authPassword})
		var bodies []string
		for _, email := range []string{"known@example.com", "nobody@example.com", "KNOWN@example.com", "not-an-email"} {
			r := f.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": email})
			bodies = append(bodies, string(r.Raw))
		}
		for _, b := range bodies[1:] {
			if b != bodies[0] {
				f.t.Fatalf("forgot-password answers differ: %q vs %q", bodies[0], b)
			}
		}
		f.mailWith("known@example.com", resetSubject)
		if m := f.Mails("nobody@example.com"); len(m) != 0 {
			f.t.Fatalf("mail sent to an unknown address: %+v", m)
		}
	}, withMail)
}

func TestPasswordReset_LinkUsesThePublicURLNeverTheHostHeader(t *testing.T) {
	runAuth(t, func(f authFlow) {
		f.Call(http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{"email": "host@example.com", "password": authPassword})
		res := f.rawPost("/api/v1/auth/password/forgot", "evil.example", `{"email":"host@example.com"}`, map[string]string{
			"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http", "Forwarded": "host=evil.example;proto=http",
		})
		if res.StatusCode != http.StatusAccepted {
			f.t.Fatalf("forgot with a forged Host: %d", res.StatusCode)
		}
		m := f.mailWith("host@example.com", resetSubject)
		token := apptest.TokenIn(f.t, m)
		if !strings.Contains(m.Body, "https://switchboard.test/reset-password?token="+token) || strings.Contains(m.Body, "evil") {
			f.t.Fatalf("reset mail does not link to the public URL only: %s", m.Body)
		}
	}, withMail)
}

func TestPasswordReset_WorksOnceRevokesSessionsAndMailsANotice(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email, newPassword = "reset@example.com", "a brand new passphrase"
		s1 := f.SignUp(email, authPassword)
		s2 := f.Login(email, authPassword)
		f.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": email})
		token := apptest.TokenIn(f.t, f.mailWith(email, resetSubject))

		// A refused new password leaves the token usable.
		f.wantErr(f.post("/api/v1/auth/password/reset", "", map[string]string{"token": token, "password": "short"}),
			http.StatusBadRequest, "VALIDATION_ERROR", "password: must be at least 8 characters")

		f.Call(http.StatusOK, "POST", "/api/v1/auth/password/reset", "", map[string]string{"token": token, "password": newPassword})
		for _, s := range []apptest.Session{s1, s2} {
			if st := f.status("/api/v1/me", s.AccessToken); st != http.StatusUnauthorized {
				f.t.Errorf("access token after reset: %d", st)
			}
			if r := f.post("/api/v1/auth/refresh", "", map[string]string{"refreshToken": s.RefreshToken}); r.Status != http.StatusUnauthorized {
				f.t.Errorf("refresh token after reset: %d", r.Status)
			}
		}
		f.wantErr(f.login(email, authPassword), http.StatusUnauthorized, "UNAUTHORIZED", "invalid email or password")
		f.Login(email, newPassword)

		f.wantErr(f.post("/api/v1/auth/password/reset", "", map[string]string{"token": token, "password": "yet another passphrase"}),
			http.StatusBadRequest, "VALIDATION_ERROR", "token: is invalid, expired or already used")
		f.Login(email, newPassword)

		notice := f.mailWith(email, "password was changed")
		if !strings.Contains(notice.Body, "https://switchboard.test/forgot-password") || strings.Contains(notice.Body, newPassword) {
			f.t.Fatalf("password-changed notice: %s", notice.Body)
		}
	}, withMail)
}

func TestPasswordReset_ExpiredOrSupersededTokenFails(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "late@example.com"
		f.SignUp(email, authPassword)
		forgot := func(n int) string {
			f.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": email})
			deadline := time.Now().Add(10 * time.Second)
			for {
				var links []apptest.Mail
				for _, m := range f.Mails(email) {
					if m.Subject == resetSubject {
						links = append(links, m)
					}
				}
				if len(links) >= n {
					return apptest.TokenIn(f.t, links[n-1])
				}
				if time.Now().After(deadline) {
					f.t.Fatalf("reset mail #%d never came", n)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		const bad = "token: is invalid, expired or already used"
		first := forgot(1)
		second := forgot(2)
		f.wantErr(f.post("/api/v1/auth/password/reset", "", map[string]string{"token": first, "password": "a brand new passphrase"}),
			http.StatusBadRequest, "VALIDATION_ERROR", bad)

		f.exec(`UPDATE password_reset_tokens SET expires_at = $1 WHERE used_at IS NULL`, db.Now().Add(-time.Second))
		f.wantErr(f.post("/api/v1/auth/password/reset", "", map[string]string{"token": second, "password": "a brand new passphrase"}),
			http.StatusBadRequest, "VALIDATION_ERROR", bad)
		f.Login(email, authPassword)
	}, withMail)
}
