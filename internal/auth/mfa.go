package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// mfaChallengeTTL is how long a password sign-in waits for its second
// factor.
const mfaChallengeTTL = 5 * time.Minute

const mfaTokenPrefix = "sbm_"

// MFAChallenge is the answer to a correct password on an account with a
// second factor: no session yet, only a single-use token that
// POST /api/v1/auth/login/mfa exchanges, with a code or a passkey, for
// the session.
type MFAChallenge struct {
	MFARequired bool   `json:"mfaRequired"`
	MFAToken    string `json:"mfaToken"`
	// Methods are the accepted second factors: totp and recovery_code
	// (with TOTP on), passkey (with a passkey, while passkeys are on on
	// this server; begin with POST /api/v1/auth/login/mfa/passkey/begin).
	Methods []string `json:"methods" jsonschema:"enum=totp,enum=recovery_code,enum=passkey"`
	// ExpiresIn is the token's lifetime in seconds.
	ExpiresIn int `json:"expiresIn"`
}

// LoginResult is a sign-in's outcome: Tokens, or a Challenge when the
// account has a second factor.
type LoginResult struct {
	Tokens    *Tokens
	Challenge *MFAChallenge
}

// PasskeyProof is the browser's answer to a passkey ceremony bound to the
// account (begun by POST /api/v1/auth/login/mfa/passkey/begin or
// POST /api/v1/auth/reauth/passkey/begin).
type PasskeyProof struct {
	CeremonyID string `json:"ceremonyId"`
	// Credential is the PublicKeyCredential navigator.credentials.get
	// returned, in its JSON form (PublicKeyCredential.toJSON()).
	Credential json.RawMessage `json:"credential"`
}

// FactorProof is a second factor: exactly one of a TOTP code, a recovery
// code and a passkey assertion.
type FactorProof struct {
	Code         string        `json:"code,omitempty"`
	RecoveryCode string        `json:"recoveryCode,omitempty"`
	Passkey      *PasskeyProof `json:"passkey,omitempty"`
}

func (p FactorProof) given() int {
	n := 0
	for _, b := range []bool{strings.TrimSpace(p.Code) != "", strings.TrimSpace(p.RecoveryCode) != "", p.Passkey != nil} {
		if b {
			n++
		}
	}
	return n
}

func (p FactorProof) validate() error {
	switch p.given() {
	case 0:
		return apperr.Invalid(apperr.FieldError{Field: "code", Message: "is required (or recoveryCode, or passkey)"})
	case 1:
		return nil
	}
	return apperr.Invalid(apperr.FieldError{Field: "code", Message: "send one of code, recoveryCode and passkey"})
}

func (p FactorProof) method() string {
	switch {
	case p.Passkey != nil:
		return "passkey"
	case strings.TrimSpace(p.Code) != "":
		return "totp"
	}
	return "recovery_code"
}

// factorMethods lists the second factors f offers, as MFAChallenge.Methods
// names them; none means the password alone signs in.
func (s *Service) factorMethods(f SecondFactors) []string {
	var out []string
	if f.TOTP {
		out = append(out, "totp", "recovery_code")
	}
	if f.Passkeys > 0 && s.PasskeysEnabled() == nil {
		out = append(out, "passkey")
	}
	return out
}

// errFactorRejected marks a wrong, replayed or used-up code, or a refused
// passkey, inside checkSecondFactor.
var errFactorRejected = errors.New("second factor rejected")

// factorRefused is errFactorRejected with the passkey refusal that says
// why.
type factorRefused struct{ why error }

func (e factorRefused) Error() string        { return e.why.Error() }
func (e factorRefused) Is(target error) bool { return target == errFactorRejected }
func (e factorRefused) Unwrap() error        { return e.why }

// errFactorLocked is the answer once the account's tries are used up.
var errFactorLocked = apperr.New(apperr.RateLimited,
	"too many wrong attempts: sign-in checks for this account are paused for a while; try again later")

// startMFA opens a challenge for u, whose password was right. The
// password's try is given back but the count is not cleared: only the
// second factor completes the sign-in, so wrong codes after a right
// password keep counting toward the lockout.
func (s *Service) startMFA(ctx context.Context, a actor.Actor, u User, methods []string) (*MFAChallenge, error) {
	token, hash := newToken(mfaTokenPrefix)
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_login_count = failed_login_count - 1
			WHERE id = $1 AND failed_login_count > 0`, u.ID); err != nil {
			return fmt.Errorf("settle password try: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mfa_challenges (token_hash, user_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4)`, hash, u.ID, now, now.Add(mfaChallengeTTL)); err != nil {
			return fmt.Errorf("store sign-in challenge: %w", err)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "auth.login_mfa_challenge", Resource: "user", ResourceID: u.ID,
			UserID: u.ID, Metadata: map[string]any{"methods": methods}})
	})
	if err != nil {
		return nil, err
	}
	return &MFAChallenge{MFARequired: true, MFAToken: token, Methods: methods,
		ExpiresIn: int(mfaChallengeTTL.Seconds())}, nil
}

var errBadChallenge = apperr.New(apperr.Unauthorized, "this sign-in has expired or was already completed; sign in again")

// challengeUser returns the live account of an open sign-in challenge.
func (s *Service) challengeUser(ctx context.Context, mfaToken string) (User, error) {
	if strings.TrimSpace(mfaToken) == "" {
		return User{}, apperr.Invalid(apperr.FieldError{Field: "mfaToken", Message: "is required"})
	}
	var userID string
	var expires time.Time
	var used sql.NullTime
	err := s.db.Read().QueryRowContext(ctx, `SELECT user_id, expires_at, used_at FROM mfa_challenges WHERE token_hash = $1`, hashToken(mfaToken)).
		Scan(&userID, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (used.Valid || !expires.After(time.Now()))) {
		return User{}, errBadChallenge
	}
	if err != nil {
		return User{}, fmt.Errorf("load sign-in challenge: %w", err)
	}
	u, err := userByID(ctx, s.db.Read(), userID)
	if err != nil {
		return User{}, err
	}
	if !u.live() {
		return User{}, errBadChallenge
	}
	return u, nil
}

// BeginLoginMFAPasskey starts the passkey ceremony that completes a
// password sign-in: the request options allow only the account's
// passkeys. The mfaToken is not used up (LoginMFA does that).
func (s *Service) BeginLoginMFAPasskey(ctx context.Context, requestOrigin, mfaToken string) (PasskeyOptions, error) {
	if err := s.PasskeysEnabled(); err != nil {
		return PasskeyOptions{}, err
	}
	u, err := s.challengeUser(ctx, mfaToken)
	if err != nil {
		return PasskeyOptions{}, err
	}
	return s.BeginPasskeyAssertion(ctx, requestOrigin, u.ID)
}

// LoginMFA completes a password sign-in with its second factor and opens
// the session (through signInTx, as every sign-in). Wrong codes and
// refused passkeys take the account's sign-in tries like wrong passwords,
// so however many race, at most LockoutThreshold are checked.
func (s *Service) LoginMFA(ctx context.Context, a actor.Actor, mfaToken string, p FactorProof) (Tokens, error) {
	if strings.TrimSpace(mfaToken) == "" {
		return Tokens{}, apperr.Invalid(apperr.FieldError{Field: "mfaToken", Message: "is required"})
	}
	if err := p.validate(); err != nil {
		return Tokens{}, err
	}
	u, err := s.challengeUser(ctx, mfaToken)
	if err != nil {
		return Tokens{}, err
	}
	hash := hashToken(mfaToken)
	var t Tokens
	err = s.checkSecondFactor(ctx, a, u, p, "auth.login_mfa", func(tx *db.Tx, now time.Time, how map[string]any) error {
		res, err := tx.ExecContext(ctx, `UPDATE mfa_challenges SET used_at = $1
			WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1`, now, hash)
		if err != nil {
			return fmt.Errorf("use sign-in challenge: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errBadChallenge
		}
		how["method"] = "password+" + p.method()
		t, err = s.signInTx(ctx, tx, a, u, how)
		return err
	})
	var refused factorRefused
	switch {
	case errors.As(err, &refused):
		return Tokens{}, refused.why
	case errors.Is(err, errFactorRejected):
		return Tokens{}, apperr.New(apperr.Unauthorized, "the code is wrong, expired or already used")
	case err != nil:
		return Tokens{}, err
	}
	return t, nil
}

// checkSecondFactor verifies p for u and, in the same transaction as
// spending it (the TOTP step, or the recovery code), runs then with how
// it was proved ("method", and "passkeyId" for a passkey). It first takes
// one of the account's sign-in tries, shared with passwords: a wrong code
// or a refused passkey is audited under action and counts toward the
// lockout. A TOTP code is accepted once: its time step is stored with a
// compare-and-swap, so a replay, even a concurrent one, finds it spent. A
// passkey's ceremony works once and its signature count must go up
// (VerifyPasskeyAssertion); the passkey's use is recorded before then
// runs.
func (s *Service) checkSecondFactor(ctx context.Context, a actor.Actor, u User, p FactorProof,
	action string, then func(tx *db.Tx, now time.Time, how map[string]any) error) error {
	if err := p.validate(); err != nil {
		return err
	}
	var assertion *protocol.ParsedCredentialAssertionData
	if p.Passkey != nil {
		if err := s.PasskeysEnabled(); err != nil {
			return err
		}
		if !ids.Valid(ids.WebAuthnCeremony, p.Passkey.CeremonyID) {
			return apperr.Invalid(apperr.FieldError{Field: "passkey.ceremonyId", Message: "is required: begin the ceremony first"})
		}
		if len(p.Passkey.Credential) == 0 || string(p.Passkey.Credential) == "null" {
			return apperr.Invalid(apperr.FieldError{Field: "passkey.credential", Message: "is required"})
		}
		var err error
		if assertion, err = protocol.ParseCredentialRequestResponseBytes(p.Passkey.Credential); err != nil {
			return apperr.Invalid(apperr.FieldError{Field: "passkey.credential", Message: "is not a passkey assertion: " + refusal(err)})
		}
	}
	// As in Login: a reserved try is always settled, even if the caller
	// hangs up.
	ctx = context.WithoutCancel(ctx)
	attempt, err := s.reserveAttempt(ctx, u.ID)
	if err != nil {
		return err
	}
	if attempt == 0 {
		if p.Passkey != nil {
			_, _ = s.takeCeremony(ctx, "login", p.Passkey.CeremonyID, u.ID)
		}
		if err := s.db.Tx(ctx, func(tx *db.Tx) error {
			return audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "user", ResourceID: u.ID, UserID: u.ID,
				Status: audit.Failure, Metadata: map[string]any{"reason": "locked", "method": p.method()}})
		}); err != nil {
			return err
		}
		return errFactorLocked
	}
	how := map[string]any{"method": p.method()}
	var step int64
	codeOK := false
	var refusedWhy error
	switch p.method() {
	case "totp":
		f, found, err := s.loadTOTP(ctx, s.db.Read(), u.ID)
		if err != nil {
			return s.giveBackTry(ctx, u.ID, err)
		}
		if found && f.confirmed {
			step, codeOK = matchTOTP(f.secret, p.Code, time.Now())
		}
	case "passkey":
		_, used, verr := s.verifyAssertion(ctx, a, u.ID, p.Passkey.CeremonyID, assertion)
		switch code := apperr.CodeOf(verr); {
		case verr == nil:
			codeOK = true
			how["passkeyId"] = used.ID
		case code == apperr.Unauthorized || code == apperr.Validation:
			refusedWhy = verr
		default:
			return s.giveBackTry(ctx, u.ID, verr)
		}
	}
	recoveryLeft := -1
	err = errFactorRejected
	if codeOK || p.method() == "recovery_code" {
		err = s.db.Tx(ctx, func(tx *db.Tx) error {
			now := db.Now()
			var res sql.Result
			var err error
			switch p.method() {
			case "totp":
				res, err = tx.ExecContext(ctx, `UPDATE totp_factors SET last_step = $1
					WHERE id = $2 AND confirmed_at IS NOT NULL AND last_step < $1`, step, u.ID)
			case "recovery_code":
				res, err = tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $1
					WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL`, now, u.ID, recoveryHash(u.ID, p.RecoveryCode))
			}
			if err != nil {
				return fmt.Errorf("spend second factor: %w", err)
			}
			if res != nil {
				if n, _ := res.RowsAffected(); n == 0 {
					return errFactorRejected
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_login_count = 0 WHERE id = $1`, u.ID); err != nil {
				return fmt.Errorf("settle try: %w", err)
			}
			if p.method() == "recovery_code" {
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`,
					u.ID).Scan(&recoveryLeft); err != nil {
					return fmt.Errorf("count recovery codes: %w", err)
				}
				if err := audit.Record(ctx, tx, a, audit.Entry{Action: "auth.recovery_code_used", Resource: "user", ResourceID: u.ID,
					UserID: u.ID, Metadata: map[string]any{"recoveryCodesLeft": recoveryLeft, "for": action}}); err != nil {
					return err
				}
				if err := s.factorNotice(ctx, tx, u.ID, "A recovery code was used on your Switchboard account",
					fmt.Sprintf("a recovery code was just used to confirm a sign-in or a sensitive action on your Switchboard account; %d unused codes are left.", recoveryLeft)); err != nil {
					return err
				}
			}
			return then(tx, now, how)
		})
	}
	if errors.Is(err, errFactorRejected) {
		reason := "wrong_" + p.method()
		if refusedWhy != nil {
			reason = "passkey_refused"
		}
		if err := s.recordWrongPassword(ctx, a, u, attempt, action, reason); !errors.Is(err, errBadCredentials) {
			return err
		}
		if refusedWhy != nil {
			return factorRefused{why: refusedWhy}
		}
		return errFactorRejected
	}
	if err != nil {
		return s.giveBackTry(ctx, u.ID, err)
	}
	return nil
}

// giveBackTry returns err after giving back the try reserved for a factor
// that was not judged wrong (the try would otherwise stay taken until a
// lockout expires or the next success).
func (s *Service) giveBackTry(ctx context.Context, userID string, err error) error {
	if uerr := s.db.Tx(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET failed_login_count = failed_login_count - 1
			WHERE id = $1 AND failed_login_count > 0`, userID)
		return err
	}); uerr != nil {
		s.log.Warn("settle second-factor try", "userId", userID, "error", uerr)
	}
	return err
}
