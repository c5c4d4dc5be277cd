package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/mail"
	"github.com/switchboard/switchboard/internal/secret"
)

// TOTP follows RFC 6238 as every authenticator app implements it: SHA-1,
// six digits, 30-second steps, and one step of clock drift either way.
const (
	totpPeriod        = 30
	totpSkew          = 1
	totpIssuer        = "Switchboard"
	recoveryCodeCount = 10
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// TOTPEnrollment is a TOTP secret waiting for its first code: the secret
// for manual entry and the otpauth:// URL an authenticator app scans (the
// dashboard draws it as a QR code).
type TOTPEnrollment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauthUrl"`
}

// RecoveryCodes are shown once, when made: only their hashes are kept.
type RecoveryCodes struct {
	RecoveryCodes []string `json:"recoveryCodes"`
}

// SecondFactors says which second factors an account has.
type SecondFactors struct {
	TOTP bool `json:"totp"`
	// RecoveryCodesLeft counts the unused recovery codes.
	RecoveryCodesLeft int `json:"recoveryCodesLeft"`
	// Passkeys counts the account's passkeys: each is a second factor
	// too (while passkeys are on on this server).
	Passkeys int `json:"passkeys"`
}

func totpContext(userID string) string { return "totp_factor:" + userID }

// TOTPSecretStore lets key rotation re-seal TOTP secrets.
func TOTPSecretStore(d *db.DB) secret.Store {
	return secret.Column{DB: d, StoreName: "TOTP secrets", What: "TOTP factor", Table: "totp_factors",
		Sealed: "secret_sealed", KeyID: "secret_key_id", Context: totpContext}
}

// BeginTOTP starts (or restarts) TOTP enrollment with a new secret. The
// factor only counts once ConfirmTOTP has seen a code from it.
func (s *Service) BeginTOTP(ctx context.Context, a actor.Actor) (TOTPEnrollment, error) {
	if err := a.RequireReauth("add a second factor"); err != nil {
		return TOTPEnrollment{}, err
	}
	if s.cfg.Keys == nil {
		return TOTPEnrollment{}, errors.New("auth: no sealing keys configured for TOTP secrets")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: a.Email, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPEnrollment{}, fmt.Errorf("generate TOTP secret: %w", err)
	}
	sealed, err := s.cfg.Keys.Seal([]byte(key.Secret()), totpContext(a.UserID))
	if err != nil {
		return TOTPEnrollment{}, fmt.Errorf("seal TOTP secret: %w", err)
	}
	keyID, err := secret.KeyID(sealed)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		res, err := tx.ExecContext(ctx, `INSERT INTO totp_factors (id, workspace_id, secret_sealed, secret_key_id, created_at)
			VALUES ($1, $1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET secret_sealed = $2, secret_key_id = $3, last_step = 0, created_at = $4
			WHERE totp_factors.confirmed_at IS NULL`, a.UserID, sealed, keyID, now)
		if err != nil {
			return fmt.Errorf("store TOTP secret: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.Conflict, "TOTP is already on; remove it first to enroll another authenticator")
		}
		return audit.Record(ctx, tx, personal(a), audit.Entry{Action: "auth.totp_enrollment_started", Resource: "user", ResourceID: a.UserID})
	})
	if err != nil {
		return TOTPEnrollment{}, err
	}
	return TOTPEnrollment{Secret: key.Secret(), OTPAuthURL: key.URL()}, nil
}

// ConfirmTOTP turns enrollment into a working factor once code proves the
// authenticator holds the secret, and returns the first recovery codes.
func (s *Service) ConfirmTOTP(ctx context.Context, a actor.Actor, code string) (RecoveryCodes, error) {
	if err := a.RequireReauth("add a second factor"); err != nil {
		return RecoveryCodes{}, err
	}
	if strings.TrimSpace(code) == "" {
		return RecoveryCodes{}, apperr.Invalid(apperr.FieldError{Field: "code", Message: "is required"})
	}
	f, found, err := s.loadTOTP(ctx, s.db.Read(), a.UserID)
	if err != nil {
		return RecoveryCodes{}, err
	}
	if !found {
		return RecoveryCodes{}, apperr.New(apperr.Conflict, "no TOTP enrollment is waiting: start one with POST /api/v1/me/2fa/totp")
	}
	if f.confirmed {
		return RecoveryCodes{}, apperr.New(apperr.Conflict, "TOTP is already on")
	}
	step, ok := matchTOTP(f.secret, code, time.Now())
	if !ok {
		return RecoveryCodes{}, apperr.Invalid(apperr.FieldError{Field: "code", Message: "is wrong; check the authenticator's clock and try the current code"})
	}
	var out RecoveryCodes
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		res, err := tx.ExecContext(ctx, `UPDATE totp_factors SET confirmed_at = $1, last_step = $2
			WHERE id = $3 AND confirmed_at IS NULL AND secret_sealed = $4`, now, step, a.UserID, f.sealed)
		if err != nil {
			return fmt.Errorf("confirm TOTP: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.Conflict, "the enrollment changed meanwhile; start again")
		}
		if out.RecoveryCodes, err = replaceRecoveryCodes(ctx, tx, a.UserID); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, personal(a), audit.Entry{Action: "auth.factor_added", Resource: "user", ResourceID: a.UserID,
			Metadata: map[string]any{"method": "totp", "recoveryCodes": len(out.RecoveryCodes)}}); err != nil {
			return err
		}
		return s.factorNotice(ctx, tx, a.UserID, "A second factor was added to your Switchboard account",
			"an authenticator app (TOTP) was just added as a second factor to your Switchboard account.")
	})
	if err != nil {
		return RecoveryCodes{}, err
	}
	return out, nil
}

// DisableTOTP removes the TOTP factor and the recovery codes with it.
func (s *Service) DisableTOTP(ctx context.Context, a actor.Actor) error {
	if err := a.RequireReauth("remove a second factor"); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM totp_factors WHERE id = $1`, a.UserID)
		if err != nil {
			return fmt.Errorf("remove TOTP: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.NotFound, "TOTP is not set up")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, a.UserID); err != nil {
			return fmt.Errorf("remove recovery codes: %w", err)
		}
		if err := audit.Record(ctx, tx, personal(a), audit.Entry{Action: "auth.factor_removed", Resource: "user", ResourceID: a.UserID,
			Metadata: map[string]any{"method": "totp"}}); err != nil {
			return err
		}
		return s.factorNotice(ctx, tx, a.UserID, "A second factor was removed from your Switchboard account",
			"the authenticator app (TOTP) was just removed from your Switchboard account, and its recovery codes with it.")
	})
}

// RegenerateRecoveryCodes replaces every recovery code with new ones.
// Recovery codes belong to TOTP (they are made with it and go with it), so
// an account whose only factors are passkeys has none.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, a actor.Actor) (RecoveryCodes, error) {
	if err := a.RequireReauth("replace the recovery codes"); err != nil {
		return RecoveryCodes{}, err
	}
	var out RecoveryCodes
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		var on bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM totp_factors WHERE id = $1 AND confirmed_at IS NOT NULL)`,
			a.UserID).Scan(&on); err != nil {
			return fmt.Errorf("check factor: %w", err)
		}
		if !on {
			return apperr.New(apperr.Conflict, "recovery codes come with a second factor; turn TOTP on first")
		}
		var err error
		if out.RecoveryCodes, err = replaceRecoveryCodes(ctx, tx, a.UserID); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, personal(a), audit.Entry{Action: "auth.recovery_codes_regenerated", Resource: "user", ResourceID: a.UserID,
			Metadata: map[string]any{"recoveryCodes": len(out.RecoveryCodes)}}); err != nil {
			return err
		}
		return s.factorNotice(ctx, tx, a.UserID, "New recovery codes for your Switchboard account",
			"new recovery codes were just made for your Switchboard account; the old ones no longer work.")
	})
	if err != nil {
		return RecoveryCodes{}, err
	}
	return out, nil
}

// SecondFactors reports the actor's second factors.
func (s *Service) SecondFactors(ctx context.Context, a actor.Actor) (SecondFactors, error) {
	return secondFactors(ctx, s.db.Read(), a.UserID)
}

func secondFactors(ctx context.Context, q db.Querier, userID string) (SecondFactors, error) {
	var out SecondFactors
	err := q.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM totp_factors WHERE id = $1 AND confirmed_at IS NOT NULL),
		(SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL),
		(SELECT count(*) FROM passkeys WHERE user_id = $1)`, userID).Scan(&out.TOTP, &out.RecoveryCodesLeft, &out.Passkeys)
	if err != nil {
		return SecondFactors{}, fmt.Errorf("read second factors: %w", err)
	}
	return out, nil
}

type totpFactor struct {
	secret, sealed string
	confirmed      bool
}

func (s *Service) loadTOTP(ctx context.Context, q db.Querier, userID string) (totpFactor, bool, error) {
	var f totpFactor
	var confirmed sql.NullTime
	err := q.QueryRowContext(ctx, `SELECT secret_sealed, confirmed_at FROM totp_factors WHERE id = $1`, userID).Scan(&f.sealed, &confirmed)
	if errors.Is(err, sql.ErrNoRows) {
		return totpFactor{}, false, nil
	}
	if err != nil {
		return totpFactor{}, false, fmt.Errorf("load TOTP factor: %w", err)
	}
	if s.cfg.Keys == nil {
		return totpFactor{}, false, errors.New("auth: no sealing keys configured for TOTP secrets")
	}
	plain, err := s.cfg.Keys.Open(f.sealed, totpContext(userID))
	if err != nil {
		return totpFactor{}, false, fmt.Errorf("open TOTP secret of %s: %w", userID, err)
	}
	f.secret, f.confirmed = string(plain), confirmed.Valid
	return f, true, nil
}

// matchTOTP returns the time step whose code is code, within one step of
// now either way.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / totpPeriod
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix((step+d)*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step + d, true
		}
	}
	return 0, false
}

// replaceRecoveryCodes deletes the account's recovery codes and makes
// recoveryCodeCount new ones: 50 random bits each, shown as xxxxx-xxxxx.
func replaceRecoveryCodes(ctx context.Context, tx *db.Tx, userID string) ([]string, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return nil, fmt.Errorf("remove recovery codes: %w", err)
	}
	now := db.Now()
	codes := make([]string, recoveryCodeCount)
	for i := range codes {
		b := make([]byte, 7)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("recovery code: %w", err)
		}
		raw := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:10]
		codes[i] = raw[:5] + "-" + raw[5:]
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)`,
			userID, recoveryHash(userID, raw), now); err != nil {
			return nil, fmt.Errorf("store recovery code: %w", err)
		}
	}
	return codes, nil
}

// recoveryHash is the stored form of a recovery code. A code has 50 random
// bits, too many to guess online (every try takes a sign-in try); the user
// id salts it so one table of hashes cannot serve every account.
func recoveryHash(userID, code string) string {
	sum := sha256.Sum256([]byte("recovery:" + userID + ":" + normalizeRecoveryCode(code)))
	return hex.EncodeToString(sum[:])
}

func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, code)
}

// factorNotice mails the account holder about a change to their factors.
func (s *Service) factorNotice(ctx context.Context, tx *db.Tx, userID, subject, what string) error {
	u, err := userByID(ctx, tx, userID)
	if err != nil {
		return err
	}
	return s.mailTx(ctx, tx, mail.Message{To: u.Email, Subject: subject,
		Text: fmt.Sprintf("Hello %s,\n\n%s\n\nIf this was not you, reset your password at once and contact support:\n\n%s/forgot-password\n",
			displayName(u), what, s.cfg.PublicURL)})
}
