package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

// Tokens is what a successful login or refresh returns.
type Tokens struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken,omitempty"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int  `json:"expiresIn"`
	User      User `json:"user"`
}

// errBadCredentials is the one answer for a wrong password, an unknown
// email, a locked, deactivated or deleted account: a caller cannot tell them
// apart.
var errBadCredentials = apperr.New(apperr.Unauthorized, "invalid email or password")

// Login checks a password and opens a session.
//
// Lockout is enforced before the password is checked: each attempt first
// reserves one of the LockoutThreshold tries with a single conditional
// UPDATE, so however many attempts race, at most LockoutThreshold passwords
// are ever verified before the account locks.
//
// On an account with a second factor, a right password opens no session:
// the answer is a challenge that LoginMFA completes.
func (s *Service) Login(ctx context.Context, a actor.Actor, email, password string) (LoginResult, error) {
	t, ch, err := s.login(ctx, a, email, password)
	if err != nil {
		return LoginResult{}, err
	}
	if ch != nil {
		return LoginResult{Challenge: ch}, nil
	}
	return LoginResult{Tokens: &t}, nil
}

func (s *Service) login(ctx context.Context, a actor.Actor, email, password string) (Tokens, *MFAChallenge, error) {
	email = normalizeEmail(email)
	var missing []apperr.FieldError
	if email == "" {
		missing = append(missing, apperr.FieldError{Field: "email", Message: "is required"})
	}
	if password == "" {
		missing = append(missing, apperr.FieldError{Field: "password", Message: "is required"})
	}
	if len(missing) > 0 {
		return Tokens{}, nil, apperr.Invalid(missing...)
	}
	u, found, err := liveUserByEmail(ctx, s.db.Read(), email)
	if err != nil {
		return Tokens{}, nil, err
	}
	if !found || !u.IsActive {
		_, _ = verifyPassword(password, s.dummy())
		reason := "unknown_account"
		if found {
			reason = "inactive_account"
		}
		return Tokens{}, nil, s.recordLoginFailure(ctx, a, u.ID, email, reason)
	}

	// From here on the attempt runs to its end even if the caller hangs up:
	// a try reserved (or a commit whose answer was lost) but never settled
	// would leak, until the account sat at the limit with no lockout to
	// expire. The remaining work is bounded: one hash and two short writes.
	ctx = context.WithoutCancel(ctx)
	attempt, err := s.reserveAttempt(ctx, u.ID)
	if err != nil {
		return Tokens{}, nil, err
	}
	if attempt == 0 {
		_, _ = verifyPassword(password, s.dummy())
		return Tokens{}, nil, s.recordLoginFailure(ctx, a, u.ID, email, "locked")
	}
	ok, err := verifyPassword(password, u.passwordHash)
	if err != nil {
		return Tokens{}, nil, fmt.Errorf("verify password of %s: %w", u.ID, err)
	}
	if !ok {
		return Tokens{}, nil, s.recordWrongPassword(ctx, a, u, attempt, "auth.login", "wrong_password")
	}
	s.upgradeHash(ctx, u, password)
	factors, err := secondFactors(ctx, s.db.Read(), u.ID)
	if err != nil {
		return Tokens{}, nil, err
	}
	if methods := s.factorMethods(factors); len(methods) > 0 {
		ch, err := s.startMFA(ctx, a, u, methods)
		return Tokens{}, ch, err
	}

	t, err := s.signIn(ctx, a, u, map[string]any{"method": "password"})
	return t, nil, err
}

// signIn opens a session for u once a sign-in method has proved who they
// are: it settles the lockout counters, records the login and audits it
// with meta (at least "method"). Every way of signing in ends here (or in
// signInTx, inside a transaction that also spends what proved it), so
// they all answer alike.
func (s *Service) signIn(ctx context.Context, a actor.Actor, u User, meta map[string]any) (Tokens, error) {
	var t Tokens
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		var err error
		t, err = s.signInTx(ctx, tx, a, u, meta)
		return err
	})
	if err != nil {
		return Tokens{}, err
	}
	return t, nil
}

// signInTx is signIn inside tx.
func (s *Service) signInTx(ctx context.Context, tx *db.Tx, a actor.Actor, u User, meta map[string]any) (Tokens, error) {
	now := db.Now()
	if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_login_count = 0, lockout_count = 0,
		locked_until = NULL, last_login_at = $1, updated_at = $1 WHERE id = $2`, now, u.ID); err != nil {
		return Tokens{}, fmt.Errorf("record login: %w", err)
	}
	u.FailedLoginCount, u.lockoutCount, u.LockedUntil, u.LastLoginAt = 0, 0, nil, &now
	a.UserID = u.ID
	t, err := s.openSession(ctx, tx, a, u, "")
	if err != nil {
		return Tokens{}, err
	}
	a.SessionID = t.sessionID
	if err := audit.Record(ctx, tx, a, audit.Entry{Action: "auth.login", Resource: "session",
		ResourceID: t.sessionID, Metadata: meta}); err != nil {
		return Tokens{}, err
	}
	return t.Tokens, nil
}

// reserveAttempt takes one try for the account, or returns 0 if it is locked
// or its tries are used up.
func (s *Service) reserveAttempt(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		return tx.QueryRowContext(ctx, `UPDATE users SET failed_login_count = failed_login_count + 1
			WHERE id = $1 AND failed_login_count < $2 AND (locked_until IS NULL OR locked_until <= $3)
			RETURNING failed_login_count`, userID, s.cfg.LockoutThreshold, now).Scan(&n)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reserve login attempt: %w", err)
	}
	return n, nil
}

// recordWrongPassword audits the failure under action and, on the last
// allowed try, locks the account for a period that doubles with each
// lockout. Sign-in and the current-password check of a signed-in change
// share it, so a stolen access token cannot guess the password faster than
// the login form can.
func (s *Service) recordWrongPassword(ctx context.Context, a actor.Actor, u User, attempt int, action, reason string) error {
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		meta := map[string]any{"email": u.Email, "reason": reason, "attempt": attempt}
		if attempt >= s.cfg.LockoutThreshold {
			now := db.Now()
			var lockouts int
			if err := tx.QueryRowContext(ctx, `SELECT lockout_count FROM users WHERE id = $1`, u.ID).Scan(&lockouts); err != nil {
				return fmt.Errorf("read lockout count: %w", err)
			}
			d := s.lockoutDuration(lockouts)
			until := now.Add(d)
			if _, err := tx.ExecContext(ctx, `UPDATE users SET locked_until = $1, lockout_count = lockout_count + 1,
				failed_login_count = 0, updated_at = $2 WHERE id = $3`, until, now, u.ID); err != nil {
				return fmt.Errorf("lock account: %w", err)
			}
			if err := audit.Record(ctx, tx, a, audit.Entry{Action: "auth.lockout", Resource: "user",
				ResourceID: u.ID, UserID: u.ID, Status: audit.Failure,
				Metadata: map[string]any{"lockedUntil": until, "lockoutNumber": lockouts + 1, "durationSeconds": int(d.Seconds())}}); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "user", ResourceID: u.ID,
			UserID: u.ID, Status: audit.Failure, Metadata: meta})
	})
	if err != nil {
		return err
	}
	return errBadCredentials
}

func (s *Service) lockoutDuration(previousLockouts int) time.Duration {
	d := s.cfg.LockoutBase
	for i := 0; i < previousLockouts && d < s.cfg.LockoutMax; i++ {
		d *= 2
	}
	if d > s.cfg.LockoutMax {
		d = s.cfg.LockoutMax
	}
	return d
}

func (s *Service) recordLoginFailure(ctx context.Context, a actor.Actor, userID, email, reason string) error {
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		return audit.Record(ctx, tx, a, audit.Entry{Action: "auth.login", Resource: "user", ResourceID: userID,
			UserID: userID, Status: audit.Failure, Metadata: typedEmail(email, map[string]any{"reason": reason})})
	})
	if err != nil {
		return err
	}
	return errBadCredentials
}

// upgradeHash re-hashes a password that was just proven when its stored
// hash has other cost parameters than the node's, so a change of the
// defaults reaches every account at its next sign-in. The update only
// replaces the hash it was checked against; a failure is logged, the
// sign-in goes on (the old hash still verifies).
func (s *Service) upgradeHash(ctx context.Context, u User, password string) {
	if p, ok := hashParamsOf(u.passwordHash); !ok || p == s.cfg.Hash {
		return
	}
	h, err := hashPassword(password, s.cfg.Hash)
	if err == nil {
		err = s.db.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3`, h, u.ID, u.passwordHash)
			return err
		})
	}
	if err != nil {
		s.log.Warn("upgrade password hash", "user", u.ID, "err", err)
	}
}
