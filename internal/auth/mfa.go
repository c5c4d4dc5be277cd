package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

// mfaChallengeTTL is how long a password sign-in waits for its second
// factor.
const mfaChallengeTTL = 5 * time.Minute

const mfaTokenPrefix = "sbm_"

// MFAChallenge is the answer to a correct password on an account with a
// second factor: no session yet, only a single-use token that
// POST /api/v1/auth/login/mfa exchanges, with a code, for the session.
type MFAChallenge struct {
	MFARequired bool   `json:"mfaRequired"`
	MFAToken    string `json:"mfaToken"`
	// Methods are the accepted second factors: totp, recovery_code.
	Methods []string `json:"methods"`
	// ExpiresIn is the token's lifetime in seconds.
	ExpiresIn int `json:"expiresIn"`
}

// LoginResult is a sign-in's outcome: Tokens, or a Challenge when the
// account has a second factor.
type LoginResult struct {
	Tokens    *Tokens
	Challenge *MFAChallenge
}

// FactorProof is a second factor: exactly one of a TOTP code and a
// recovery code.
type FactorProof struct {
	Code         string `json:"code,omitempty"`
	RecoveryCode string `json:"recoveryCode,omitempty"`
}

func (p FactorProof) validate() error {
	hasCode, hasRecovery := strings.TrimSpace(p.Code) != "", strings.TrimSpace(p.RecoveryCode) != ""
	switch {
	case hasCode && hasRecovery:
		return apperr.Invalid(apperr.FieldError{Field: "code", Message: "send code or recoveryCode, not both"})
	case !hasCode && !hasRecovery:
		return apperr.Invalid(apperr.FieldError{Field: "code", Message: "is required (or recoveryCode)"})
	}
	return nil
}

func (p FactorProof) method() string {
	if strings.TrimSpace(p.Code) != "" {
		return "totp"
	}
	return "recovery_code"
}

// errFactorRejected marks a wrong, replayed or used-up code inside
// checkSecondFactor's transaction.
var errFactorRejected = errors.New("second factor rejected")

// errFactorLocked is the answer once the account's tries are used up.
var errFactorLocked = apperr.New(apperr.RateLimited,
	"too many wrong attempts: sign-in checks for this account are paused for a while; try again later")

// startMFA opens a challenge for u, whose password was right. The
// password's try is given back but the count is not cleared: only the
// second factor completes the sign-in, so wrong codes after a right
// password keep counting toward the lockout.
func (s *Service) startMFA(ctx context.Context, a actor.Actor, u User) (*MFAChallenge, error) {
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
			UserID: u.ID, Metadata: map[string]any{"methods": []string{"totp", "recovery_code"}}})
	})
	if err != nil {
		return nil, err
	}
	return &MFAChallenge{MFARequired: true, MFAToken: token, Methods: []string{"totp", "recovery_code"},
		ExpiresIn: int(mfaChallengeTTL.Seconds())}, nil
}

var errBadChallenge = apperr.New(apperr.Unauthorized, "this sign-in has expired or was already completed; sign in again")

// LoginMFA completes a password sign-in with its second factor and opens
// the session. Wrong codes take the account's sign-in tries like wrong
// passwords, so however many race, at most LockoutThreshold are checked.
func (s *Service) LoginMFA(ctx context.Context, a actor.Actor, mfaToken string, p FactorProof) (Tokens, error) {
	if strings.TrimSpace(mfaToken) == "" {
		return Tokens{}, apperr.Invalid(apperr.FieldError{Field: "mfaToken", Message: "is required"})
	}
	if err := p.validate(); err != nil {
		return Tokens{}, err
	}
	hash := hashToken(mfaToken)
	var userID string
	var expires time.Time
	var used sql.NullTime
	err := s.db.Read().QueryRowContext(ctx, `SELECT user_id, expires_at, used_at FROM mfa_challenges WHERE token_hash = $1`, hash).
		Scan(&userID, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (used.Valid || !expires.After(time.Now()))) {
		return Tokens{}, errBadChallenge
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("load sign-in challenge: %w", err)
	}
	u, err := userByID(ctx, s.db.Read(), userID)
	if err != nil {
		return Tokens{}, err
	}
	if !u.live() {
		return Tokens{}, errBadChallenge
	}
	var t issued
	err = s.checkSecondFactor(ctx, a, u, p, "auth.login_mfa", func(tx *db.Tx, now time.Time) error {
		res, err := tx.ExecContext(ctx, `UPDATE mfa_challenges SET used_at = $1
			WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1`, now, hash)
		if err != nil {
			return fmt.Errorf("use sign-in challenge: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errBadChallenge
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_login_count = 0, lockout_count = 0,
			locked_until = NULL, last_login_at = $1, updated_at = $1 WHERE id = $2`, now, u.ID); err != nil {
			return fmt.Errorf("record login: %w", err)
		}
		u.FailedLoginCount, u.lockoutCount, u.LockedUntil, u.LastLoginAt = 0, 0, nil, &now
		a.UserID = u.ID
		if t, err = s.openSession(ctx, tx, a, u, ""); err != nil {
			return err
		}
		a.SessionID = t.sessionID
		return audit.Record(ctx, tx, a, audit.Entry{Action: "auth.login", Resource: "session",
			ResourceID: t.sessionID, Metadata: map[string]any{"method": "password+" + p.method()}})
	})
	switch {
	case errors.Is(err, errFactorRejected):
		return Tokens{}, apperr.New(apperr.Unauthorized, "the code is wrong, expired or already used")
	case err != nil:
		return Tokens{}, err
	}
	return t.Tokens, nil
}

// checkSecondFactor verifies p for u and, in the same transaction as
// spending it (the TOTP step, or the recovery code), runs then. It first
// takes one of the account's sign-in tries, shared with passwords: a wrong
// code is audited under action and counts toward the lockout. A TOTP code
// is accepted once: its time step is stored with a compare-and-swap, so a
// replay, even a concurrent one, finds it spent.
func (s *Service) checkSecondFactor(ctx context.Context, a actor.Actor, u User, p FactorProof,
	action string, then func(tx *db.Tx, now time.Time) error) error {
	if err := p.validate(); err != nil {
		return err
	}
	// As in Login: a reserved try is always settled, even if the caller
	// hangs up.
	ctx = context.WithoutCancel(ctx)
	attempt, err := s.reserveAttempt(ctx, u.ID)
	if err != nil {
		return err
	}
	if attempt == 0 {
		if err := s.db.Tx(ctx, func(tx *db.Tx) error {
			return audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "user", ResourceID: u.ID, UserID: u.ID,
				Status: audit.Failure, Metadata: map[string]any{"reason": "locked", "method": p.method()}})
		}); err != nil {
			return err
		}
		return errFactorLocked
	}
	var step int64
	codeOK := false
	if p.method() == "totp" {
		f, found, err := s.loadTOTP(ctx, s.db.Read(), u.ID)
		if err != nil {
			return err
		}
		if found && f.confirmed {
			step, codeOK = matchTOTP(f.secret, p.Code, time.Now())
		}
	}
	recoveryLeft := -1
	err = errFactorRejected
	if codeOK || p.method() == "recovery_code" {
		err = s.db.Tx(ctx, func(tx *db.Tx) error {
			now := db.Now()
			var res sql.Result
			var err error
			if p.method() == "totp" {
				res, err = tx.ExecContext(ctx, `UPDATE totp_factors SET last_step = $1
					WHERE id = $2 AND confirmed_at IS NOT NULL AND last_step < $1`, step, u.ID)
			} else {
				res, err = tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $1
					WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL`, now, u.ID, recoveryHash(u.ID, p.RecoveryCode))
			}
			if err != nil {
				return fmt.Errorf("spend second factor: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return errFactorRejected
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
			return then(tx, now)
		})
	}
	if errors.Is(err, errFactorRejected) {
		if err := s.recordWrongPassword(ctx, a, u, attempt, action, "wrong_"+p.method()); !errors.Is(err, errBadCredentials) {
			return err
		}
		return errFactorRejected
	}
	if err != nil {
		// The try stays reserved only until a lockout expires or the next
		// success: give it back, the factor was not judged wrong.
		if uerr := s.db.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE users SET failed_login_count = failed_login_count - 1
				WHERE id = $1 AND failed_login_count > 0`, u.ID)
			return err
		}); uerr != nil {
			s.log.Warn("settle second-factor try", "userId", u.ID, "error", uerr)
		}
	}
	return err
}
