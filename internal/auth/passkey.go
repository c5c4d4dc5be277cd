package auth

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/mail"
)

// maxPasskeys bounds the passkeys of one account.
const maxPasskeys = 20

// Passkey is a registered WebAuthn credential as its owner sees it; the
// public key stays in this package.
type Passkey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// BackedUp says the passkey is synced (e.g. to a password manager or
	// a platform account) rather than bound to one device.
	BackedUp   bool       `json:"backedUp"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
}

// storedPasskey is a passkeys row with its credential record.
type storedPasskey struct {
	Passkey
	userID string
	cred   webauthn.Credential
}

// passkeyUser presents an account to go-webauthn. Its user handle is the
// user id, which identifies the account in a passwordless sign-in.
type passkeyUser struct {
	u     User
	creds []webauthn.Credential
}

func (p passkeyUser) WebAuthnID() []byte                         { return []byte(p.u.ID) }
func (p passkeyUser) WebAuthnName() string                       { return p.u.Email }
func (p passkeyUser) WebAuthnDisplayName() string                { return displayName(p.u) }
func (p passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

func newPasskeyUser(u User, stored []storedPasskey) passkeyUser {
	p := passkeyUser{u: u, creds: make([]webauthn.Credential, len(stored))}
	for i, sp := range stored {
		p.creds[i] = sp.cred
	}
	return p
}

const passkeyColumns = `id, user_id, name, credential, sign_count, created_at, last_used_at`

func scanPasskey(sc scanner) (storedPasskey, error) {
	var p storedPasskey
	var raw string
	var count int64
	var used sql.NullTime
	if err := sc.Scan(&p.ID, &p.userID, &p.Name, &raw, &count, &p.CreatedAt, &used); err != nil {
		return storedPasskey{}, err
	}
	if err := json.Unmarshal([]byte(raw), &p.cred); err != nil {
		return storedPasskey{}, fmt.Errorf("decode passkey %s: %w", p.ID, err)
	}
	// The column is the authority on the counter: a sign-in raises it
	// with a conditional UPDATE.
	p.cred.Authenticator.SignCount = uint32(count)
	p.cred.Authenticator.CloneWarning = false
	p.CreatedAt, p.LastUsedAt = p.CreatedAt.UTC(), timePtr(used)
	p.BackedUp = p.cred.Flags.BackupState
	return p, nil
}

// passkeysOf lists a user's passkeys, oldest first.
func passkeysOf(ctx context.Context, q db.Querier, userID string) ([]storedPasskey, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	defer rows.Close()
	var out []storedPasskey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, fmt.Errorf("scan passkey: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func credentialKey(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

// ListPasskeys lists the actor's passkeys, newest first.
func (s *Service) ListPasskeys(ctx context.Context, a actor.Actor) ([]Passkey, error) {
	stored, err := passkeysOf(ctx, s.db.Read(), a.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]Passkey, 0, len(stored))
	for i := len(stored) - 1; i >= 0; i-- {
		out = append(out, stored[i].Passkey)
	}
	return out, nil
}

// BeginPasskeyRegistration starts adding a passkey to the actor's account:
// it answers the options for navigator.credentials.create. The passkey is
// discoverable (a resident key, so it can sign in without an email) and
// verifies the user (PIN or biometrics). requestOrigin is the origin the
// request was addressed to (see ceremonyOrigin).
func (s *Service) BeginPasskeyRegistration(ctx context.Context, a actor.Actor, requestOrigin string) (PasskeyOptions, error) {
	if err := s.PasskeysEnabled(); err != nil {
		return PasskeyOptions{}, err
	}
	if err := requirePerson(a, "add a passkey"); err != nil {
		return PasskeyOptions{}, err
	}
	if err := a.RequireReauth("add a second factor"); err != nil {
		return PasskeyOptions{}, err
	}
	u, err := userByID(ctx, s.db.Read(), a.UserID)
	if err != nil {
		return PasskeyOptions{}, err
	}
	stored, err := passkeysOf(ctx, s.db.Read(), u.ID)
	if err != nil {
		return PasskeyOptions{}, err
	}
	if len(stored) >= maxPasskeys {
		return PasskeyOptions{}, apperr.New(apperr.Conflict, "an account holds at most %d passkeys: delete one first", maxPasskeys)
	}
	origin := s.ceremonyOrigin(requestOrigin)
	w, err := s.relyingParty(origin)
	if err != nil {
		return PasskeyOptions{}, err
	}
	pu := newPasskeyUser(u, stored)
	exclude := make([]protocol.CredentialDescriptor, len(pu.creds))
	for i := range pu.creds {
		exclude[i] = pu.creds[i].Descriptor()
	}
	creation, sd, err := w.BeginRegistration(pu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationRequired}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithExclusions(exclude),
		webauthn.WithRegistrationOrigin(origin))
	if err != nil {
		return PasskeyOptions{}, fmt.Errorf("begin passkey registration: %w", err)
	}
	return s.saveCeremony(ctx, "register", u.ID, sd, creation.Response)
}

// FinishPasskeyRegistrationInput is the browser's answer to
// navigator.credentials.create.
type FinishPasskeyRegistrationInput struct {
	CeremonyID string `json:"ceremonyId"`
	// Name tells the passkey apart in the list (default "Passkey").
	Name string `json:"name,omitempty"`
	// Credential is the PublicKeyCredential the browser returned, in its
	// JSON form (PublicKeyCredential.toJSON(): id, rawId, type and a
	// response with clientDataJSON, attestationObject and transports,
	// base64url-encoded).
	Credential json.RawMessage `json:"credential"`
}

// FinishPasskeyRegistration verifies the browser's answer against the
// ceremony (challenge, origin, relying party id, user verification) and
// stores the passkey. The account holder is told by mail.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, a actor.Actor, in FinishPasskeyRegistrationInput) (Passkey, error) {
	if err := s.PasskeysEnabled(); err != nil {
		return Passkey{}, err
	}
	if err := requirePerson(a, "add a passkey"); err != nil {
		return Passkey{}, err
	}
	name, err := checkPasskeyName(in.Name, "Passkey")
	if err != nil {
		return Passkey{}, err
	}
	if len(in.Credential) == 0 || string(in.Credential) == "null" {
		return Passkey{}, apperr.Invalid(apperr.FieldError{Field: "credential", Message: "is required"})
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(in.Credential)
	if err != nil {
		return Passkey{}, apperr.Invalid(apperr.FieldError{Field: "credential", Message: "is not a registration answer: " + refusal(err)})
	}
	sd, err := s.takeCeremony(ctx, "register", in.CeremonyID, a.UserID)
	if err != nil {
		return Passkey{}, err
	}
	w, err := s.relyingParty(sd.Origin)
	if err != nil {
		return Passkey{}, err
	}
	u, err := userByID(ctx, s.db.Read(), a.UserID)
	if err != nil {
		return Passkey{}, err
	}
	stored, err := passkeysOf(ctx, s.db.Read(), u.ID)
	if err != nil {
		return Passkey{}, err
	}
	cred, err := w.CreateCredential(newPasskeyUser(u, stored), sd, parsed)
	if err != nil {
		return Passkey{}, apperr.Invalid(apperr.FieldError{Field: "credential", Message: "was not accepted: " + refusal(err)})
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return Passkey{}, fmt.Errorf("encode passkey: %w", err)
	}
	p := Passkey{ID: ids.New(ids.Passkey), Name: name, BackedUp: cred.Flags.BackupState, CreatedAt: db.Now()}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM passkeys WHERE user_id = $1`, u.ID).Scan(&n); err != nil {
			return fmt.Errorf("count passkeys: %w", err)
		}
		if n >= maxPasskeys {
			return apperr.New(apperr.Conflict, "an account holds at most %d passkeys: delete one first", maxPasskeys)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO passkeys (id, user_id, credential_id, name, credential, sign_count, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, p.ID, u.ID, credentialKey(cred.ID), name, string(raw), int64(cred.Authenticator.SignCount), p.CreatedAt)
		if db.IsUniqueViolation(err) {
			return apperr.New(apperr.Conflict, "this passkey is already registered")
		}
		if err != nil {
			return fmt.Errorf("insert passkey: %w", err)
		}
		if err := audit.Record(ctx, tx, personal(a), audit.Entry{Action: "auth.passkey_registered", Resource: "passkey", ResourceID: p.ID,
			Metadata: map[string]any{"name": name, "backedUp": p.BackedUp, "aaguid": credentialKey(cred.Authenticator.AAGUID)}}); err != nil {
			return err
		}
		return s.mailTx(ctx, tx, mail.Message{To: u.Email, Subject: "A passkey was added to your Switchboard account",
			Text: fmt.Sprintf("Hello %s,\n\na passkey named %q was just added to your Switchboard account; it can sign in "+
				"without your password. If this was not you, delete it under Account → Passkeys and change your password:\n\n%s/account\n",
				displayName(u), name, s.cfg.PublicURL)})
	})
	if err != nil {
		return Passkey{}, err
	}
	return p, nil
}

// RenamePasskeyInput renames a passkey.
type RenamePasskeyInput struct {
	Name string `json:"name"`
}

// RenamePasskey renames one of the actor's passkeys; another account's
// answers NOT_FOUND.
func (s *Service) RenamePasskey(ctx context.Context, a actor.Actor, id string, in RenamePasskeyInput) (Passkey, error) {
	if err := requirePerson(a, "rename a passkey"); err != nil {
		return Passkey{}, err
	}
	name, err := checkPasskeyName(in.Name, "")
	if err != nil {
		return Passkey{}, err
	}
	var out Passkey
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		p, err := scanPasskey(tx.QueryRowContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE id = $1 AND user_id = $2`, id, a.UserID))
		if errors.Is(err, sql.ErrNoRows) {
			return errNoPasskey
		}
		if err != nil {
			return fmt.Errorf("load passkey: %w", err)
		}
		out = p.Passkey
		if p.Name == name {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3`, name, id, a.UserID); err != nil {
			return fmt.Errorf("rename passkey: %w", err)
		}
		out.Name = name
		return audit.Record(ctx, tx, personal(a), audit.Entry{Action: "auth.passkey_renamed", Resource: "passkey", ResourceID: id,
			Metadata: audit.WithDiff(map[string]any{"name": map[string]any{"from": p.Name, "to": name}},
				map[string]any{"name": p.Name}, map[string]any{"name": name})})
	})
	return out, err
}

var errNoPasskey = apperr.New(apperr.NotFound, "passkey not found")

// DeletePasskey removes one of the actor's passkeys; it can no longer sign
// in. Another account's answers NOT_FOUND. The account holder is told by
// mail. A passkey is a second factor, so this needs a recent
// re-authentication; removing the last factor is allowed even where an
// organization requires one: the member then meets MFA_REQUIRED there
// until they add another.
func (s *Service) DeletePasskey(ctx context.Context, a actor.Actor, id string) error {
	if err := requirePerson(a, "delete a passkey"); err != nil {
		return err
	}
	if err := a.RequireReauth("remove a second factor"); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING name`, id, a.UserID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return errNoPasskey
		}
		if err != nil {
			return fmt.Errorf("delete passkey: %w", err)
		}
		if err := audit.Record(ctx, tx, personal(a), audit.Entry{Action: "auth.passkey_deleted", Resource: "passkey", ResourceID: id,
			Metadata: map[string]any{"name": name}}); err != nil {
			return err
		}
		u, err := userByID(ctx, tx, a.UserID)
		if err != nil {
			return err
		}
		return s.mailTx(ctx, tx, mail.Message{To: u.Email, Subject: "A passkey was removed from your Switchboard account",
			Text: fmt.Sprintf("Hello %s,\n\nthe passkey named %q was just removed from your Switchboard account and can no "+
				"longer sign in. If this was not you, change your password and review your passkeys:\n\n%s/account\n",
				displayName(u), name, s.cfg.PublicURL)})
	})
}

// checkPasskeyName trims a passkey's name; empty takes def, or is refused
// when there is no default.
func checkPasskeyName(raw, def string) (string, error) {
	n := strings.TrimSpace(raw)
	if n == "" {
		if def == "" {
			return "", apperr.Invalid(apperr.FieldError{Field: "name", Message: "is required"})
		}
		return def, nil
	}
	if utf8.RuneCountInString(n) > 64 {
		return "", apperr.Invalid(apperr.FieldError{Field: "name", Message: "must be at most 64 characters"})
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f {
			return "", apperr.Invalid(apperr.FieldError{Field: "name", Message: "must not contain control characters"})
		}
	}
	return n, nil
}
