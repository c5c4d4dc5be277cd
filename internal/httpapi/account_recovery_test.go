package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
)

// signsInWithoutSecondFactor reports whether the password alone signs in:
// tokens, not a second-factor step.
func (f authFlow) signsInWithoutSecondFactor(email, password string) bool {
	f.t.Helper()
	r := f.login(email, password)
	if r.Status != http.StatusOK {
		f.t.Fatalf("sign-in of %s: %d %s", email, r.Status, r.Raw)
	}
	var ch challenge
	r.Data(f.t, &ch)
	return !ch.MFARequired
}

func (f authFlow) verifyEmail(userID string) {
	f.t.Helper()
	f.exec(`UPDATE users SET email_verified_at = $1 WHERE id = $2`, db.Now(), userID)
}

// Someone with the password registers a passkey before moving the account
// to their address, and turns on an authenticator app after: the owner's
// revert removes both, and the passkey signs nobody in any more.
func TestRecovery_RevertRemovesTheIntrudersPasskeyAndApp(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const owner, evil, fresh = "kept@example.com", "taker@example.com", "owner's new passphrase"
		s := f.SignUp(owner, authPassword)
		f.verifyEmail(s.UserID)
		thief := f.Login(owner, authPassword)
		key, _ := f.registerPasskey(thief.AccessToken, "Thief's phone")
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", thief.AccessToken, map[string]string{"email": evil, "currentPassword": authPassword})
		f.Call(http.StatusOK, "POST", "/api/v1/auth/email/change/confirm", "",
			map[string]string{"token": apptest.TokenIn(f.t, f.mailWith(evil, "Confirm your new email"))})
		f.enrollTOTP(thief)

		var out struct {
			FactorsRemoved struct {
				Passkeys      int64 `json:"passkeys"`
				TOTP          bool  `json:"totp"`
				RecoveryCodes int64 `json:"recoveryCodes"`
			} `json:"factorsRemoved"`
		}
		revert := apptest.TokenIn(f.t, f.mailWith(owner, "email was changed"))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/email/change/revert", "", map[string]string{"token": revert, "password": fresh}).Data(f.t, &out)
		if r := out.FactorsRemoved; r.Passkeys != 1 || !r.TOTP || r.RecoveryCodes != 10 {
			f.t.Fatalf("revert removed %+v, want the passkey, the app and its 10 codes", r)
		}
		lo := f.beginPasskeyLogin()
		f.wantErr(f.finishPasskeyLogin(lo, key.get(lo)), http.StatusUnauthorized, "UNAUTHORIZED", "")
		if !f.signsInWithoutSecondFactor(owner, fresh) {
			f.t.Fatal("the intruder's app still guards the owner's sign-in")
		}
		if m := f.mailWith(owner, "email was restored"); !strings.Contains(m.Body, "passkeys were removed") || !strings.Contains(m.Body, "authenticator app was removed") {
			f.t.Errorf("restored mail does not say what was removed: %s", m.Body)
		}
		if n := f.count(`SELECT count(*) FROM audit_logs WHERE action = 'user.email_change_reverted' AND CAST(metadata AS TEXT) LIKE '%factorsRemoved%'`); n != 1 {
			f.t.Errorf("%d revert audit rows name the removed factors", n)
		}
	}, withMail)
}

// An app the owner set up before the change stays after a revert: the
// intruder got past it to ask for the change, and removing it would hand
// the account to whoever holds the old mailbox alone.
func TestRecovery_RevertKeepsAnAppOlderThanTheChange(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const owner, moved = "app-owner@example.com", "app-moved@example.com"
		s := f.SignUp(owner, authPassword)
		f.verifyEmail(s.UserID)
		f.enrollTOTP(s)
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", s.AccessToken, map[string]string{"email": moved, "currentPassword": authPassword})
		revert := apptest.TokenIn(f.t, f.mailWith(owner, "about to change"))
		var out struct {
			FactorsRemoved struct{ TOTP bool } `json:"factorsRemoved"`
		}
		f.Call(http.StatusOK, "POST", "/api/v1/auth/email/change/revert", "", map[string]string{"token": revert, "password": authPassword + "!"}).Data(f.t, &out)
		if out.FactorsRemoved.TOTP {
			f.t.Fatal("revert removed the app set up before the change")
		}
		if f.signsInWithoutSecondFactor(owner, authPassword+"!") {
			f.t.Fatal("the owner's app no longer guards sign-in after the revert")
		}
	}, withMail)
}

// A reset keeps a verified account's factors (the mailbox alone must not
// get past them), lists the passkeys in its notice, and cancels a change
// of address asked for with the old password: it cannot be confirmed
// afterwards.
func TestRecovery_ResetCancelsAPendingChangeAndKeepsFactors(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const owner, evil = "resetter@example.com", "resetter-evil@example.com"
		s := f.SignUp(owner, authPassword)
		f.verifyEmail(s.UserID)
		f.registerPasskey(s.AccessToken, "Owner's laptop")
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", s.AccessToken, map[string]string{"email": evil, "currentPassword": authPassword})
		confirm := apptest.TokenIn(f.t, f.mailWith(evil, "Confirm your new email"))

		f.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": owner})
		reset := apptest.TokenIn(f.t, f.mailWith(owner, resetSubject))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/password/reset", "", map[string]string{"token": reset, "password": "after the reset 1"})
		f.wantErr(f.post("/api/v1/auth/email/change/confirm", "", map[string]string{"token": confirm}),
			http.StatusBadRequest, "VALIDATION_ERROR", "token: is for a change that was replaced, reverted or already made")
		if n := f.count(`SELECT count(*) FROM users WHERE id = $1 AND email = $2`, s.UserID, owner); n != 1 {
			f.t.Fatal("the account's email changed after the reset cancelled the change")
		}
		if n := f.count(`SELECT count(*) FROM passkeys WHERE user_id = $1`, s.UserID); n != 1 {
			f.t.Errorf("%d passkeys after a reset of a verified account, want the owner's 1", n)
		}
		if f.signsInWithoutSecondFactor(owner, "after the reset 1") {
			f.t.Error("after the reset the password alone signs in: the owner's passkey no longer guards it")
		}
		if m := f.mailWith(owner, "password was changed"); !strings.Contains(m.Body, "Owner's laptop") {
			f.t.Errorf("the reset notice does not list the passkey: %s", m.Body)
		}
	}, withMail)
}

// A password change cancels a pending change of address as well.
func TestRecovery_PasswordChangeCancelsAPendingChange(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const owner, evil = "changer@example.com", "changer-evil@example.com"
		s := f.SignUp(owner, authPassword)
		thief := f.Login(owner, authPassword)
		f.Call(http.StatusOK, "PATCH", "/api/v1/me", thief.AccessToken, map[string]string{"email": evil, "currentPassword": authPassword})
		confirm := apptest.TokenIn(f.t, f.mailWith(evil, "Confirm your new email"))
		f.Call(http.StatusOK, "POST", "/api/v1/me/password", s.AccessToken,
			map[string]string{"currentPassword": authPassword, "newPassword": "changed in time 1"})
		f.wantErr(f.post("/api/v1/auth/email/change/confirm", "", map[string]string{"token": confirm}),
			http.StatusBadRequest, "VALIDATION_ERROR", "token: is for a change that was replaced, reverted or already made")
	}, withMail)
}

// Someone signs up with another person's address (never verified), adds a
// passkey and an app, and waits. When the address's owner takes the
// account with a reset link, both are gone and the address is verified.
func TestRecovery_ResetOfAPreHijackedAccountRemovesEveryFactor(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const victim = "victim@example.com"
		squatter := f.SignUp(victim, authPassword)
		key, _ := f.registerPasskey(squatter.AccessToken, "Squatter")
		f.enrollTOTP(squatter)

		f.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": victim})
		reset := apptest.TokenIn(f.t, f.mailWith(victim, resetSubject))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/password/reset", "", map[string]string{"token": reset, "password": "the real owner 1"})
		lo := f.beginPasskeyLogin()
		f.wantErr(f.finishPasskeyLogin(lo, key.get(lo)), http.StatusUnauthorized, "UNAUTHORIZED", "")
		if !f.signsInWithoutSecondFactor(victim, "the real owner 1") {
			f.t.Fatal("the squatter's app still guards the account")
		}
		var me struct{ EmailVerified bool }
		f.Call(http.StatusOK, "GET", "/api/v1/me", f.Login(victim, "the real owner 1").AccessToken, nil).Data(f.t, &me)
		if !me.EmailVerified {
			f.t.Error("the reset link proved the address, but it is not verified")
		}
	}, withMail)
}
