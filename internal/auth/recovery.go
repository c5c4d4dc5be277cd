package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/db"
)

// Taking an account back. A password reset and the revert of an email
// change are how an owner recovers an account from someone who knew its
// password. Besides ending every session and API key, both end open
// sign-in challenges and passkey ceremonies (begun with the old password)
// and cancel email changes waiting for confirmation (a password change
// does too): otherwise an intruder's request, made with the old password,
// could still be confirmed after the owner took the account back, moving
// it and its resets to the intruder's address.
//
// Second factors are where the two differ, because a passkey also signs
// in alone, without the password:
//
//   - A revert answers "someone who had my password moved my account": it
//     removes every passkey, or one the intruder registered, even before
//     asking for the change, would sign them in again; and an
//     authenticator app confirmed since the change was requested, with
//     its recovery codes (an older one was set up before the intruder had
//     the account, or it locks the intruder out as much as the owner).
//   - A reset needs nothing but the mailbox, so it keeps the factors: the
//     owner's passkeys and app are what stops someone who holds only the
//     mailbox. The notice lists the passkeys that can still sign in, to be
//     reviewed. Unless the address was never verified: then nobody had
//     shown they own it, whoever set the factors up may have signed up
//     with someone else's address to wait for them (a "pre-hijacked"
//     account), and the reset removes them all.
//
// The old address is trusted for the revert window after a change (see
// email_change.go), as it was for resets before the change.

// FactorsRemoved is what a recovery took from an account's sign-in factors.
type FactorsRemoved struct {
	Passkeys int64 `json:"passkeys"`
	// TOTP is true when the authenticator app (and its recovery codes)
	// was removed.
	TOTP          bool  `json:"totp"`
	RecoveryCodes int64 `json:"recoveryCodes"`
}

// removeRecoveredFactors ends userID's open sign-in challenges and passkey
// ceremonies, removes its passkeys if passkeys is set and, if totpSince is
// set, an authenticator app confirmed (or left unconfirmed) since then,
// with all its recovery codes; recovery codes made since totpSince for an
// app that stays go too.
func removeRecoveredFactors(ctx context.Context, tx *db.Tx, userID string, passkeys bool, totpSince *time.Time) (FactorsRemoved, error) {
	var out FactorsRemoved
	if passkeys {
		res, err := tx.ExecContext(ctx, `DELETE FROM passkeys WHERE user_id = $1`, userID)
		if err != nil {
			return out, fmt.Errorf("remove passkeys: %w", err)
		}
		if out.Passkeys, err = res.RowsAffected(); err != nil {
			return out, fmt.Errorf("remove passkeys: %w", err)
		}
	}
	for _, q := range []string{`DELETE FROM webauthn_ceremonies WHERE user_id = $1`, `DELETE FROM mfa_challenges WHERE user_id = $1`} {
		if _, err := tx.ExecContext(ctx, q, userID); err != nil {
			return out, fmt.Errorf("end open sign-ins: %w", err)
		}
	}
	if totpSince == nil {
		return out, nil
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM totp_factors WHERE id = $1 AND (confirmed_at IS NULL OR confirmed_at >= $2)`,
		userID, *totpSince)
	if err != nil {
		return out, fmt.Errorf("remove authenticator app: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return out, fmt.Errorf("remove authenticator app: %w", err)
	}
	out.TOTP = n > 0
	codes := `DELETE FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL AND created_at >= $2`
	args := []any{userID, *totpSince}
	if out.TOTP {
		codes, args = `DELETE FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, args[:1]
	}
	if res, err = tx.ExecContext(ctx, codes, args...); err != nil {
		return out, fmt.Errorf("remove recovery codes: %w", err)
	}
	if out.RecoveryCodes, err = res.RowsAffected(); err != nil {
		return out, fmt.Errorf("remove recovery codes: %w", err)
	}
	return out, nil
}

// cancelEmailChanges cancels userID's email changes that wait for their
// new address to confirm.
func cancelEmailChanges(ctx context.Context, tx *db.Tx, userID string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE email_changes SET cancelled_at = $1
		WHERE user_id = $2 AND confirmed_at IS NULL AND reverted_at IS NULL AND cancelled_at IS NULL`, now, userID); err != nil {
		return fmt.Errorf("cancel pending email changes: %w", err)
	}
	return nil
}

// passkeyList names userID's passkeys for a mail, one per line.
func passkeyList(ctx context.Context, tx *db.Tx, userID string) (string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, created_at FROM passkeys WHERE user_id = $1 ORDER BY created_at`, userID)
	if err != nil {
		return "", fmt.Errorf("list passkeys: %w", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var name string
		var created time.Time
		if err := rows.Scan(&name, &created); err != nil {
			return "", fmt.Errorf("list passkeys: %w", err)
		}
		fmt.Fprintf(&b, "  - %s, added %s\n", name, created.UTC().Format("2006-01-02 15:04 MST"))
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("list passkeys: %w", err)
	}
	return b.String(), nil
}

// removedFactorsText tells the owner, in a mail, what a recovery removed.
func removedFactorsText(r FactorsRemoved) string {
	var s string
	if r.Passkeys > 0 {
		s += fmt.Sprintf(" The account's %d passkeys were removed, as one may not have been yours; add yours again on your account page.", r.Passkeys)
	}
	if r.TOTP {
		s += " The authenticator app was removed with its recovery codes, as it may not have been yours; set yours up again."
	}
	return s
}
