package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
)

// An attacker who holds a session and the password moves the account to
// their address, makes a key and asks for a reset there; the owner's
// revert link from the old address undoes all of it.
func TestEmailChange_RevertRestoresTheAddressAndSecuresTheAccount(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const owner, evil, fresh = "owner@example.com", "evil@example.com", "owner's new passphrase"
		s := f.SignUp(owner, authPassword)
		thief := f.Login(owner, authPassword)
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", thief.AccessToken, map[string]string{"email": evil, "currentPassword": authPassword})
		confirm := apptest.TokenIn(f.t, f.mailWith(evil, "Confirm your new email"))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/email/change/confirm", "", map[string]string{"token": confirm})
		key := f.createKey(thief.AccessToken, "backdoor")
		f.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": evil})
		reset := apptest.TokenIn(f.t, f.mailWith(evil, resetSubject))

		revert := apptest.TokenIn(f.t, f.mailWith(owner, "email was changed"))
		f.wantErr(f.post("/api/v1/auth/email/change/revert", "", map[string]string{"token": revert, "password": "short"}),
			http.StatusBadRequest, "VALIDATION_ERROR", "password: must be at least 8 characters")
		var out struct {
			User struct {
				Email         string `json:"email"`
				EmailVerified bool   `json:"emailVerified"`
			} `json:"user"`
			SessionsRevoked int64 `json:"sessionsRevoked"`
			APIKeysRevoked  []struct {
				ID string `json:"id"`
			} `json:"apiKeysRevoked"`
		}
		f.Call(http.StatusOK, "POST", "/api/v1/auth/email/change/revert", "", map[string]string{"token": revert, "password": fresh}).Data(f.t, &out)
		if out.User.Email != owner || !out.User.EmailVerified || out.SessionsRevoked != 2 || len(out.APIKeysRevoked) != 1 || out.APIKeysRevoked[0].ID != key.ID {
			f.t.Fatalf("revert answer: %+v", out)
		}
		for name, tok := range map[string]string{"owner session": s.AccessToken, "thief session": thief.AccessToken, "thief key": key.Key} {
			if st := f.status("/api/v1/me", tok); st != http.StatusUnauthorized {
				f.t.Errorf("%s after revert: %d", name, st)
			}
		}
		f.wantErr(f.post("/api/v1/auth/password/reset", "", map[string]string{"token": reset, "password": "thief's passphrase"}),
			http.StatusBadRequest, "VALIDATION_ERROR", "token: is invalid, expired or already used")
		f.wantErr(f.login(evil, authPassword), http.StatusUnauthorized, "UNAUTHORIZED", "invalid email or password")
		f.wantErr(f.login(owner, authPassword), http.StatusUnauthorized, "UNAUTHORIZED", "invalid email or password")
		f.Login(owner, fresh)
		f.wantErr(f.post("/api/v1/auth/email/change/revert", "", map[string]string{"token": revert, "password": "yet another passphrase"}),
			http.StatusBadRequest, "VALIDATION_ERROR", "token: is invalid, expired or already used")
		f.mailWith(owner, "email was restored")
	}, withMail)
}

// The old address is told at the request already, and its link stops a
// pending change before it takes effect.
func TestEmailChange_RevertBeforeConfirmationCancelsIt(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const owner, evil = "early@example.com", "early-evil@example.com"
		s := f.SignUp(owner, authPassword)
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", s.AccessToken, map[string]string{"email": evil, "currentPassword": authPassword})
		revert := apptest.TokenIn(f.t, f.mailWith(owner, "about to change"))
		confirm := apptest.TokenIn(f.t, f.mailWith(evil, "Confirm your new email"))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/email/change/revert", "", map[string]string{"token": revert, "password": "a safer passphrase"})
		f.wantErr(f.post("/api/v1/auth/email/change/confirm", "", map[string]string{"token": confirm}),
			http.StatusBadRequest, "VALIDATION_ERROR", "token: is invalid, expired or already used")
		f.Login(owner, "a safer passphrase")
	}, withMail)
}

// A confirmation link lives 24 hours, and only the newest request's works.
func TestEmailChange_ConfirmationExpiresAndIsReplaced(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("slow@example.com", authPassword)
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", s.AccessToken, map[string]string{"email": "first@example.com", "currentPassword": authPassword})
		first := apptest.TokenIn(f.t, f.mailWith("first@example.com", "Confirm your new email"))
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", s.AccessToken, map[string]string{"email": "second@example.com", "currentPassword": authPassword})
		second := apptest.TokenIn(f.t, f.mailWith("second@example.com", "Confirm your new email"))
		f.wantErr(f.post("/api/v1/auth/email/change/confirm", "", map[string]string{"token": first}),
			http.StatusBadRequest, "VALIDATION_ERROR", "token: is for a change that was replaced, reverted or already made")
		ttl := map[string]time.Duration{}
		rows, err := f.App.DB.Read().QueryContext(context.Background(), `SELECT purpose, created_at, expires_at FROM email_change_tokens`)
		if err != nil {
			f.t.Fatal(err)
		}
		for rows.Next() {
			var purpose string
			var created, expires time.Time
			if err := rows.Scan(&purpose, &created, &expires); err != nil {
				f.t.Fatal(err)
			}
			ttl[purpose] = expires.Sub(created)
		}
		rows.Close()
		if ttl["confirm"] != 24*time.Hour || ttl["revert"] != 7*24*time.Hour {
			f.t.Fatalf("token lifetimes: %v", ttl)
		}
		f.exec(`UPDATE email_change_tokens SET expires_at = created_at WHERE purpose = 'confirm'`)
		f.wantErr(f.post("/api/v1/auth/email/change/confirm", "", map[string]string{"token": second}),
			http.StatusBadRequest, "VALIDATION_ERROR", "token: is invalid, expired or already used")
		f.Login("slow@example.com", authPassword)
	}, withMail)
}
