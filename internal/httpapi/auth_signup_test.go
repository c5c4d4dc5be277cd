package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
)

func TestSignup_ReturnsUserWithoutSecretsAndVerifiesEmailOnce(t *testing.T) {
	runAuth(t, func(f authFlow) {
		r := f.Call(http.StatusCreated, "POST", "/api/v1/auth/signup", "",
			map[string]string{"email": "  Ada@Example.COM ", "password": authPassword, "name": "Ada"})
		var fields map[string]any
		r.Data(f.t, &fields)
		for k := range fields {
			if l := strings.ToLower(k); strings.Contains(l, "hash") || (strings.Contains(l, "password") && k != "lastPasswordChange") {
				f.t.Errorf("signup answer has field %q: %s", k, r.Raw)
			}
		}
		if strings.Contains(string(r.Raw), "argon2") || strings.Contains(string(r.Raw), authPassword) {
			f.t.Fatalf("signup answer leaks the password or its hash: %s", r.Raw)
		}
		var u struct {
			ID, Email, Name, Role, Plan string
			EmailVerified               bool
		}
		r.Data(f.t, &u)
		if !strings.HasPrefix(u.ID, "usr_") || u.Email != "ada@example.com" || u.Name != "Ada" ||
			u.Role != "MEMBER" || u.Plan != "FREE" || u.EmailVerified {
			f.t.Fatalf("signup answer: %+v", u)
		}

		m := f.WaitMail("ada@example.com", 1)
		token := apptest.TokenIn(f.t, m)
		if !strings.Contains(m.Body, "https://switchboard.test/verify-email?token="+token) {
			f.t.Fatalf("verification link does not use the public URL: %s", m.Body)
		}
		r = f.Call(http.StatusOK, "POST", "/api/v1/auth/email/verify", "", map[string]string{"token": token})
		r.Data(f.t, &u)
		if !u.EmailVerified {
			f.t.Fatalf("verify answered %s", r.Raw)
		}
		s := f.Login("ADA@example.com", authPassword)
		f.Call(http.StatusOK, "GET", "/api/v1/me", s.AccessToken, nil).Data(f.t, &u)
		if !u.EmailVerified {
			f.t.Fatal("GET /me after verification: emailVerified is false")
		}

		const bad = "token: is invalid, expired or already used"
		for _, tok := range []string{token, strings.Repeat("A", 43)} { // replayed, unknown
			r := f.post("/api/v1/auth/email/verify", "", map[string]string{"token": tok})
			f.wantErr(r, http.StatusBadRequest, "VALIDATION_ERROR", bad)
		}
		if n := f.count(`SELECT count(*) FROM audit_logs WHERE action = 'auth.email_verified' AND user_id = $1`, u.ID); n != 1 {
			f.t.Fatalf("%d auth.email_verified audit rows, want 1", n)
		}
	}, withMail)
}

func TestSignup_DuplicateEmailConflictsWhateverItsCase(t *testing.T) {
	runAuth(t, func(f authFlow) {
		f.Call(http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{"email": "dup@example.com", "password": authPassword})
		before := f.count(`SELECT count(*) FROM users`)
		for _, email := range []string{"dup@example.com", "DUP@EXAMPLE.COM", "Dup@Example.com", " dup@example.com "} {
			r := f.post("/api/v1/auth/signup", "", map[string]string{"email": email, "password": "another good passphrase"})
			f.wantErr(r, http.StatusConflict, "CONFLICT", "an account with this email already exists")
		}
		if after := f.count(`SELECT count(*) FROM users`); after != before {
			f.t.Fatalf("users %d → %d after refused sign-ups", before, after)
		}
	})
}

func TestSignup_ParallelDuplicatesCreateOneAccount(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const n = 8
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				email := "race@example.com"
				if i%2 == 1 {
					email = "RACE@example.com"
				}
				raw, _ := json.Marshal(map[string]string{"email": email, "password": authPassword})
				res, err := http.Post(f.URL+"/api/v1/auth/signup", "application/json", strings.NewReader(string(raw)))
				if err != nil {
					return
				}
				res.Body.Close()
				statuses[i] = res.StatusCode
			}()
		}
		wg.Wait()
		created := 0
		for _, s := range statuses {
			switch s {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
			default:
				f.t.Fatalf("parallel sign-ups answered %v", statuses)
			}
		}
		if created != 1 || f.count(`SELECT count(*) FROM users WHERE lower(email) = 'race@example.com'`) != 1 {
			f.t.Fatalf("parallel sign-ups created %d accounts (statuses %v)", created, statuses)
		}
	})
}
