package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// errPasskeyRefused is the answer to a passkey that did not prove who the
// caller is; the message says why when that is safe to say.
func errPasskeyRefused(why string) error {
	return apperr.New(apperr.Unauthorized, "the passkey was not accepted: %s", why)
}

// BeginPasskeyAssertion starts a passkey assertion ("sign-in") ceremony and
// answers the options for navigator.credentials.get. With userID empty it
// is discoverable: allowCredentials is empty and the browser offers every
// passkey it holds for this site, whose answer names its account by the
// user handle. With a userID (a second factor, or re-authentication) only
// that account's passkeys are allowed, and only that account can finish
// it. The user is always verified (PIN or biometrics).
func (s *Service) BeginPasskeyAssertion(ctx context.Context, requestOrigin, userID string) (PasskeyOptions, error) {
	origin := s.ceremonyOrigin(requestOrigin)
	w, err := s.relyingParty(origin)
	if err != nil {
		return PasskeyOptions{}, err
	}
	opts := []webauthn.LoginOption{webauthn.WithUserVerification(protocol.VerificationRequired), webauthn.WithLoginOrigin(origin)}
	var assertion *protocol.CredentialAssertion
	var sd *webauthn.SessionData
	if userID == "" {
		assertion, sd, err = w.BeginDiscoverableLogin(opts...)
	} else {
		u, err := userByID(ctx, s.db.Read(), userID)
		if err != nil {
			return PasskeyOptions{}, err
		}
		stored, err := passkeysOf(ctx, s.db.Read(), u.ID)
		if err != nil {
			return PasskeyOptions{}, err
		}
		if len(stored) == 0 {
			return PasskeyOptions{}, apperr.New(apperr.Validation, "this account has no passkey")
		}
		assertion, sd, err = w.BeginLogin(newPasskeyUser(u, stored), opts...)
		if err != nil {
			return PasskeyOptions{}, fmt.Errorf("begin passkey assertion: %w", err)
		}
	}
	if err != nil {
		return PasskeyOptions{}, fmt.Errorf("begin passkey assertion: %w", err)
	}
	return s.saveCeremony(ctx, "login", userID, sd, assertion.Response)
}

// VerifyPasskeyAssertion checks a browser's answer to a ceremony begun by
// BeginPasskeyAssertion with the same userID ("" for a discoverable one,
// whose account the answer's user handle names) and returns the account
// and the passkey that signed. The ceremony is used up whatever the
// outcome. It checks the challenge, the origin the ceremony was bound to,
// the relying party id, user presence and verification, the signature,
// and that the sign count went up (one that did not is refused and
// audited as a possibly cloned authenticator); the raised count and the
// time of use are stored.
//
// It opens no session and does not touch the lockout counters: callers
// do (PasskeyLogin, or a second-factor or re-authentication step). The
// account it returns is live (not deleted, active).
func (s *Service) VerifyPasskeyAssertion(ctx context.Context, a actor.Actor, userID, ceremonyID string, credential json.RawMessage) (User, Passkey, error) {
	if err := s.PasskeysEnabled(); err != nil {
		return User{}, Passkey{}, err
	}
	parsed, err := parseAssertion(credential)
	if err != nil {
		return User{}, Passkey{}, err
	}
	return s.verifyAssertion(ctx, a, userID, ceremonyID, parsed)
}

func parseAssertion(credential json.RawMessage) (*protocol.ParsedCredentialAssertionData, error) {
	if len(credential) == 0 || string(credential) == "null" {
		return nil, apperr.Invalid(apperr.FieldError{Field: "credential", Message: "is required"})
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return nil, apperr.Invalid(apperr.FieldError{Field: "credential", Message: "is not a passkey assertion: " + refusal(err)})
	}
	return parsed, nil
}

func (s *Service) verifyAssertion(ctx context.Context, a actor.Actor, userID, ceremonyID string, parsed *protocol.ParsedCredentialAssertionData) (User, Passkey, error) {
	sd, err := s.takeCeremony(ctx, "login", ceremonyID, userID)
	if err != nil {
		return User{}, Passkey{}, err
	}
	w, err := s.relyingParty(sd.Origin)
	if err != nil {
		return User{}, Passkey{}, err
	}
	var owner passkeyUser
	var stored []storedPasskey
	load := func(id string) (passkeyUser, error) {
		u, err := userByID(ctx, s.db.Read(), id)
		if err != nil {
			return passkeyUser{}, err
		}
		if !u.live() {
			return passkeyUser{}, errors.New("the account cannot sign in")
		}
		if stored, err = passkeysOf(ctx, s.db.Read(), u.ID); err != nil {
			return passkeyUser{}, err
		}
		owner = newPasskeyUser(u, stored)
		return owner, nil
	}
	var cred *webauthn.Credential
	if userID == "" {
		_, cred, err = w.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
			if !ids.Valid(ids.User, string(handle)) {
				return nil, errors.New("the user handle names no account")
			}
			return load(string(handle))
		}, sd, parsed)
	} else if _, err = load(userID); err == nil {
		cred, err = w.ValidateLogin(owner, sd, parsed)
	}
	if apperr.CodeOf(err) == apperr.Unavailable || db.IsUnavailable(err) {
		return User{}, Passkey{}, err
	}
	if err != nil {
		return User{}, Passkey{}, errPasskeyRefused(refusal(err))
	}
	var used storedPasskey
	for _, p := range stored {
		if string(p.cred.ID) == string(cred.ID) {
			used = p
		}
	}
	if used.ID == "" {
		return User{}, Passkey{}, errPasskeyRefused("unknown credential")
	}
	presented := parsed.Response.AuthenticatorData.Counter
	if cred.Authenticator.CloneWarning {
		return User{}, Passkey{}, s.signCountWentBack(ctx, a, owner.u, used, presented)
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return User{}, Passkey{}, fmt.Errorf("encode passkey: %w", err)
	}
	now := db.Now()
	// Raised only if still below: of two answers racing with one count,
	// only one gets through.
	var n int64
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE passkeys SET sign_count = $1, credential = $2, last_used_at = $3
			WHERE id = $4 AND (sign_count < $1 OR ($1 = 0 AND sign_count = 0))`, int64(presented), string(raw), now, used.ID)
		if err != nil {
			return fmt.Errorf("record passkey use: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return User{}, Passkey{}, err
	}
	if n == 0 {
		return User{}, Passkey{}, s.signCountWentBack(ctx, a, owner.u, used, presented)
	}
	used.LastUsedAt = &now
	used.BackedUp = cred.Flags.BackupState
	return owner.u, used.Passkey, nil
}

// signCountWentBack audits an answer whose signature counter did not go
// up: a sign that the passkey's key was copied to another authenticator.
func (s *Service) signCountWentBack(ctx context.Context, a actor.Actor, u User, p storedPasskey, presented uint32) error {
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		return audit.Record(ctx, tx, a, audit.Entry{Action: "auth.passkey_sign_count_regression", Resource: "passkey",
			ResourceID: p.ID, UserID: u.ID, Status: audit.Failure,
			Metadata: map[string]any{"storedCount": p.cred.Authenticator.SignCount, "presentedCount": presented, "name": p.Name}})
	})
	if err != nil {
		return err
	}
	return errPasskeyRefused("its signature counter went backwards, so it may have been copied; use another passkey or your password")
}

// PasskeyLoginInput is the browser's answer to a discoverable sign-in
// ceremony (POST /auth/passkey/begin).
type PasskeyLoginInput struct {
	CeremonyID string `json:"ceremonyId"`
	// Credential is the PublicKeyCredential navigator.credentials.get
	// returned, in its JSON form (PublicKeyCredential.toJSON(): id, rawId,
	// type and a response with clientDataJSON, authenticatorData,
	// signature and userHandle, base64url-encoded).
	Credential json.RawMessage `json:"credential"`
}

// PasskeyLogin signs in without a password: the passkey's user handle
// names the account, VerifyPasskeyAssertion proves it, and the session
// opens as a password sign-in's does. A failed answer for a known account
// takes one of its sign-in tries, exactly as a wrong password does, so
// passwords and passkeys share one lockout.
func (s *Service) PasskeyLogin(ctx context.Context, a actor.Actor, in PasskeyLoginInput) (Tokens, error) {
	if err := s.PasskeysEnabled(); err != nil {
		return Tokens{}, err
	}
	parsed, err := parseAssertion(in.Credential)
	if err != nil {
		return Tokens{}, err
	}
	if len(parsed.Response.UserHandle) == 0 {
		_, _ = s.takeCeremony(ctx, "login", in.CeremonyID, "")
		return Tokens{}, apperr.Invalid(apperr.FieldError{Field: "credential.response.userHandle",
			Message: "is required: sign in with a passkey saved for this site (a discoverable credential)"})
	}
	// The handle is whatever bytes the client sent: only a well-formed
	// user id is looked up.
	handle := string(parsed.Response.UserHandle)
	var u User
	err = apperr.New(apperr.NotFound, "user not found")
	if ids.Valid(ids.User, handle) {
		u, err = userByID(ctx, s.db.Read(), handle)
	}
	if err != nil && apperr.CodeOf(err) != apperr.NotFound {
		return Tokens{}, err
	}
	if err != nil || !u.live() {
		_, _ = s.takeCeremony(ctx, "login", in.CeremonyID, "")
		reason := "unknown_account"
		if err == nil {
			reason = "inactive_account"
		}
		return Tokens{}, s.passkeyLoginFailure(ctx, a, u.ID, reason)
	}
	// As in Login: a reserved try always gets settled.
	ctx = context.WithoutCancel(ctx)
	attempt, err := s.reserveAttempt(ctx, u.ID)
	if err != nil {
		return Tokens{}, err
	}
	if attempt == 0 {
		_, _ = s.takeCeremony(ctx, "login", in.CeremonyID, "")
		return Tokens{}, s.passkeyLoginFailure(ctx, a, u.ID, "locked")
	}
	who, p, err := s.verifyAssertion(ctx, a, "", in.CeremonyID, parsed)
	if err == nil && who.ID != u.ID {
		err = errPasskeyRefused("it belongs to another account")
	}
	if err != nil {
		if code := apperr.CodeOf(err); code != apperr.Unauthorized && code != apperr.Validation {
			return Tokens{}, err
		}
		if ferr := s.recordWrongPassword(ctx, a, u, attempt, "auth.login", "passkey_refused"); !errors.Is(ferr, errBadCredentials) {
			return Tokens{}, ferr
		}
		return Tokens{}, err
	}
	return s.signIn(ctx, a, who, map[string]any{"method": "passkey", "passkeyId": p.ID})
}

func (s *Service) passkeyLoginFailure(ctx context.Context, a actor.Actor, userID, reason string) error {
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		return audit.Record(ctx, tx, a, audit.Entry{Action: "auth.login", Resource: "user", ResourceID: userID,
			UserID: userID, Status: audit.Failure, Metadata: map[string]any{"reason": reason, "method": "passkey"}})
	})
	if err != nil {
		return err
	}
	if reason == "locked" {
		return errPasskeyRefused("the account is locked after too many failed sign-ins; try again later")
	}
	return errPasskeyRefused("no account uses it")
}
