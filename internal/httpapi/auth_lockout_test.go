package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db"
)

const wrongPassword = "not the right passphrase"

// refusal is the one answer to every failed login; it is what an unknown
// account gets.
func (f authFlow) refusal() string {
	f.t.Helper()
	r := f.login("nobody-at-all@example.com", wrongPassword)
	f.wantErr(r, http.StatusUnauthorized, "UNAUTHORIZED", "invalid email or password")
	return string(r.Raw)
}

// failLogins makes n wrong-password attempts, each refused like an unknown
// account.
func (f authFlow) failLogins(email string, n int, refusal string) {
	f.t.Helper()
	for i := range n {
		if r := f.login(email, wrongPassword); string(r.Raw) != refusal || r.Status != http.StatusUnauthorized {
			f.t.Fatalf("wrong password #%d: %d %s, want %s", i+1, r.Status, r.Raw, refusal)
		}
	}
}

// wantLockedFor checks the account is locked for about d from now.
func (f authFlow) wantLockedFor(userID string, d time.Duration) {
	f.t.Helper()
	left := time.Until(f.lockedUntil(userID))
	if left < d-time.Minute || left > d+time.Second {
		f.t.Fatalf("locked for %s, want about %s", left.Round(time.Second), d)
	}
}

func TestLogin_LocksAfterFiveFailuresAndAnswersLikeAWrongPassword(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "lock@example.com"
		s := f.SignUp(email, authPassword)
		refusal := f.refusal()
		f.failLogins(email, 5, refusal)
		f.wantLockedFor(s.UserID, 15*time.Minute)

		// Locked: even the right password gets the very same answer.
		for _, pw := range []string{authPassword, wrongPassword} {
			if r := f.login(email, pw); string(r.Raw) != refusal {
				f.t.Fatalf("locked account, password %q: %d %s", pw, r.Status, r.Raw)
			}
		}
		if n := len(f.auditMetadata("auth.lockout", "failure")); n != 1 {
			f.t.Fatalf("%d auth.lockout audit rows, want 1", n)
		}
		reasons := map[string]int{}
		for _, m := range f.auditMetadata("auth.login", "failure") {
			reasons[m["reason"].(string)]++
		}
		if reasons["wrong_password"] != 5 || reasons["locked"] != 2 {
			f.t.Fatalf("login failure reasons %v", reasons)
		}
		// An existing session is not a way around the lock, nor is it ended.
		f.Call(http.StatusOK, "GET", "/api/v1/me", s.AccessToken, nil)

		// A password reset proves the owner and lifts the lock at once.
		f.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": email})
		token := apptest.TokenIn(f.t, f.mailWith(email, resetSubject))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/password/reset", "", map[string]string{"token": token, "password": "a brand new passphrase"})
		f.Login(email, "a brand new passphrase")
	}, withMail)
}

func TestLogin_FiftyParallelWrongPasswordsVerifyAtMostFive(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "race-lock@example.com"
		s := f.SignUp(email, authPassword)
		refusal := f.refusal()
		const n = 50
		bodies := make([]string, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		body, _ := json.Marshal(map[string]string{"email": email, "password": wrongPassword})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := http.Post(f.URL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
				if err != nil {
					bodies[i] = err.Error()
					return
				}
				defer res.Body.Close()
				raw, _ := io.ReadAll(res.Body)
				bodies[i] = string(raw)
			}()
		}
		close(start)
		wg.Wait()
		for i, b := range bodies {
			if b != refusal {
				f.t.Fatalf("parallel attempt %d answered %s", i, b)
			}
		}
		verified := 0
		for _, m := range f.auditMetadata("auth.login", "failure") {
			if m["reason"] == "wrong_password" {
				verified++
			}
		}
		if verified > 5 {
			f.t.Fatalf("%d passwords were verified in the race, at most 5 allowed", verified)
		}
		f.wantLockedFor(s.UserID, 15*time.Minute)
		if r := f.login(email, authPassword); string(r.Raw) != refusal {
			f.t.Fatalf("right password after the race: %s", r.Raw)
		}
	})
}

func TestLogin_SuccessResetsTheFailureCount(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "reset-count@example.com"
		s := f.SignUp(email, authPassword)
		refusal := f.refusal()
		for round := range 3 {
			f.failLogins(email, 4, refusal)
			f.Login(email, authPassword)
			if n := f.count(`SELECT failed_login_count FROM users WHERE id = $1`, s.UserID); n != 0 {
				f.t.Fatalf("round %d: failed_login_count %d after a success", round, n)
			}
		}
		if !f.lockedUntil(s.UserID).IsZero() {
			f.t.Fatal("account locked though no five failures were consecutive")
		}
	})
}

func TestLogin_EachFurtherLockoutDoublesItsDuration(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "double@example.com"
		s := f.SignUp(email, authPassword)
		refusal := f.refusal()
		for _, want := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour} {
			f.failLogins(email, 5, refusal)
			f.wantLockedFor(s.UserID, want)
			if r := f.login(email, authPassword); string(r.Raw) != refusal {
				f.t.Fatalf("right password while locked: %s", r.Raw)
			}
			// Let the lockout run out without waiting for it.
			f.exec(`UPDATE users SET locked_until = $1 WHERE id = $2`, db.Now().Add(-time.Second), s.UserID)
		}
		f.Login(email, authPassword)
		// A success forgives earlier lockouts: the next one is short again.
		f.failLogins(email, 5, refusal)
		f.wantLockedFor(s.UserID, 15*time.Minute)
	})
}

func TestAuthRateLimit_FourthRequestFromOneAddressIs429(t *testing.T) {
	limit := func(c *config.Config) { c.AuthRateLimit = 3; c.TrustProxy = true }
	runAuth(t, func(f authFlow) {
		f.Call(http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{"email": "rl@example.com", "password": authPassword})
		// Every try comes from an address of its own, so a try that
		// straddles the limiter's minute window can be repeated cleanly.
		for try := 1; ; try++ {
			ip := "203.0.113." + strconv.Itoa(try)
			from := map[string]string{"X-Forwarded-For": ip}
			window := time.Now().Truncate(time.Minute)
			calls := []apptest.Request{
				{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]string{"email": "rl@example.com", "password": authPassword}, Headers: from},
				{Method: "POST", Path: "/api/v1/auth/password/forgot", Body: map[string]string{"email": "rl@example.com"}, Headers: from},
				{Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]string{"refreshToken": "sbr_unknown"}, Headers: from},
				{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]string{"email": "rl@example.com", "password": authPassword}, Headers: from},
			}
			var last *apptest.Response
			for i, c := range calls {
				last = f.Do(c)
				if i < 3 && last.Status == http.StatusTooManyRequests {
					f.t.Fatalf("request %d of 3 allowed was limited: %s", i+1, last.Raw)
				}
			}
			if time.Now().Truncate(time.Minute) != window && try < 3 {
				continue
			}
			if last.Status != http.StatusTooManyRequests || last.Code() != "RATE_LIMITED" ||
				!strings.HasPrefix(last.Body.Error.Message, "too many requests from this address; retry in ") {
				f.t.Fatalf("4th auth request: %d %s", last.Status, last.Raw)
			}
			var details struct{ RetryAfterSeconds int }
			_ = json.Unmarshal(last.Body.Error.Details, &details)
			ra := last.Header.Get("Retry-After")
			if ra == "" || ra != strconv.Itoa(details.RetryAfterSeconds) || details.RetryAfterSeconds < 1 || details.RetryAfterSeconds > 60 {
				f.t.Fatalf("Retry-After %q, details %s", ra, last.Body.Error.Details)
			}
			break
		}
		// Another address is served; endpoints outside auth are not limited.
		f.Login("rl@example.com", authPassword)
		if st := f.status("/healthz", ""); st != http.StatusOK {
			f.t.Fatalf("/healthz: %d", st)
		}
	}, limit)
}

// A stolen access token is no faster a way to guess the password than the
// login form: the current password a change needs takes the same tries, in
// the same atomic count, and locks the account the same way.
func TestCurrentPassword_ParallelWrongGuessesLockLikeLogins(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const email = "guess@example.com"
		s := f.SignUp(email, authPassword)
		const n = 20
		statuses := make([]int, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				body := map[string]string{"email": "thief" + strconv.Itoa(i) + "@example.com", "currentPassword": wrongPassword}
				if i%2 == 1 {
					statuses[i] = f.post("/api/v1/me/password", s.AccessToken, map[string]string{
						"currentPassword": wrongPassword, "newPassword": "the thief's passphrase"}).Status
					return
				}
				statuses[i] = f.Do(apptest.Request{Method: "PATCH", Path: "/api/v1/me", Token: s.AccessToken, Body: body}).Status
			}()
		}
		close(start)
		wg.Wait()
		for i, st := range statuses {
			if st != http.StatusBadRequest && st != http.StatusTooManyRequests {
				f.t.Fatalf("wrong current password #%d answered %d", i, st)
			}
		}
		verified := 0
		for _, action := range []string{"user.email_change_requested", "auth.password_changed"} {
			for _, m := range f.auditMetadata(action, "failure") {
				if m["reason"] == "wrong_current_password" {
					verified++
				}
			}
		}
		if verified > 5 {
			f.t.Fatalf("%d current passwords were verified in the race, at most 5 allowed", verified)
		}
		f.wantLockedFor(s.UserID, 15*time.Minute)
		// Locked: the right password is refused too, and sign-in with it as well.
		r := f.Do(apptest.Request{Method: "PATCH", Path: "/api/v1/me", Token: s.AccessToken,
			Body: map[string]string{"email": "thief@example.com", "currentPassword": authPassword}})
		f.wantErr(r, http.StatusTooManyRequests, "RATE_LIMITED", "")
		f.wantErr(f.login(email, authPassword), http.StatusUnauthorized, "UNAUTHORIZED", "invalid email or password")
		if got := f.count(`SELECT COUNT(*) FROM email_changes WHERE user_id = $1`, s.UserID); got != 0 {
			f.t.Fatalf("%d email changes recorded from wrong passwords", got)
		}
	})
}
