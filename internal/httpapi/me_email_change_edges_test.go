package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
)

// Until the new address confirms, it is nobody's: it cannot sign in nor
// ask for a reset. Another account may take it meanwhile, and the
// confirmation then fails cleanly (no duplicate address, no 500). A
// confirmation link works once.
func TestEmailChange_PendingAddressEdges(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const owner, pending, later = "edges@example.com", "edges-pending@example.com", "edges-later@example.com"
		s := f.SignUp(owner, authPassword)
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", s.AccessToken, map[string]string{"email": pending, "currentPassword": authPassword})
		confirm := apptest.TokenIn(f.t, f.mailWith(pending, "Confirm your new email"))
		f.wantErr(f.login(pending, authPassword), http.StatusUnauthorized, "UNAUTHORIZED", "invalid email or password")
		f.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": pending})
		if n := lcCount(f.t, f.Harness, `SELECT COUNT(*) FROM password_reset_tokens WHERE user_id = $1`, s.UserID); n != 0 {
			f.t.Errorf("a reset asked for the pending address made %d reset tokens for the account", n)
		}
		f.Login(owner, authPassword)

		// Someone else signs up with the pending address first.
		f.SignUp(pending, "someone else's passphrase")
		r := f.post("/api/v1/auth/email/change/confirm", "", map[string]string{"token": confirm})
		if r.Status < 400 || r.Status >= 500 || r.Body.Success {
			f.t.Fatalf("confirming an address another account took: %d %s", r.Status, r.Raw)
		}
		f.Login(owner, authPassword)
		f.Login(pending, "someone else's passphrase")

		// A second change confirms once; the link then is spent.
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", s.AccessToken, map[string]string{"email": later, "currentPassword": authPassword})
		again := apptest.TokenIn(f.t, f.mailWith(later, "Confirm your new email"))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/email/change/confirm", "", map[string]string{"token": again})
		f.wantErr(f.post("/api/v1/auth/email/change/confirm", "", map[string]string{"token": again}),
			http.StatusBadRequest, "VALIDATION_ERROR", "")
		f.Login(later, authPassword)
		f.wantErr(f.login(owner, authPassword), http.StatusUnauthorized, "UNAUTHORIZED", "invalid email or password")
	}, withMail)
}
