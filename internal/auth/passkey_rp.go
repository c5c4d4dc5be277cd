package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// ceremonyTTL is how long a begun passkey ceremony (registration or
// sign-in) may be finished.
const ceremonyTTL = 5 * time.Minute

// PasskeyOptions starts a WebAuthn ceremony in the browser.
type PasskeyOptions struct {
	// CeremonyID names the server half of the ceremony; send it back with
	// the browser's answer. It works once, for 5 minutes.
	CeremonyID string `json:"ceremonyId"`
	// PublicKey is the PublicKeyCredentialCreationOptions (registration) or
	// PublicKeyCredentialRequestOptions (sign-in) in their JSON form, binary
	// fields base64url-encoded: decode them and pass the result as
	// `publicKey` to navigator.credentials.create or .get.
	PublicKey json.RawMessage `json:"publicKey"`
	ExpiresAt time.Time       `json:"expiresAt"`
}

// PasskeysEnabled reports whether passkeys can work on this server, and if
// not, the error every passkey route answers.
func (s *Service) PasskeysEnabled() error {
	id := s.cfg.WebAuthnRPID
	if id == "" || net.ParseIP(strings.Trim(id, "[]")) != nil {
		return apperr.New(apperr.PasskeysUnavailable, "passkeys are off on this server: its relying party id %q is an IP address, "+
			"and browsers refuse IP addresses as relying party ids; reach the server by a host name (for example http://localhost:8080, "+
			"or a public URL such as https://switchboard.example.com) or set --webauthn-rp-id", id)
	}
	return nil
}

// publicOrigin is the origin of the public URL.
func (s *Service) publicOrigin() string {
	u, err := url.Parse(s.cfg.PublicURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// ceremonyOrigin picks the origin a ceremony is bound to: the origin the
// request was addressed to when its host is the relying party id or under
// it (so http://localhost:8080 works beside the public URL), else the
// public URL's. The browser's answer must then come from that origin.
func (s *Service) ceremonyOrigin(requestOrigin string) string {
	u, err := url.Parse(requestOrigin)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		host, id := strings.ToLower(u.Hostname()), s.cfg.WebAuthnRPID
		if host == id || strings.HasSuffix(host, "."+id) {
			return strings.ToLower(u.Scheme + "://" + u.Host)
		}
	}
	return s.publicOrigin()
}

// relyingParty returns the WebAuthn verifier for a ceremony bound to
// origin.
func (s *Service) relyingParty(origin string) (*webauthn.WebAuthn, error) {
	if err := s.PasskeysEnabled(); err != nil {
		return nil, err
	}
	origins := []string{s.publicOrigin()}
	if origin != "" && origin != origins[0] {
		origins = append(origins, origin)
	}
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL}
	w, err := webauthn.New(&webauthn.Config{RPID: s.cfg.WebAuthnRPID, RPDisplayName: "Switchboard", RPOrigins: origins,
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout}})
	if err != nil {
		return nil, fmt.Errorf("webauthn relying party %q: %w", s.cfg.WebAuthnRPID, err)
	}
	return w, nil
}

// saveCeremony keeps the server half of a begun ceremony in the database,
// so that any node can finish it.
func (s *Service) saveCeremony(ctx context.Context, kind, userID string, sd *webauthn.SessionData, options any) (PasskeyOptions, error) {
	raw, err := json.Marshal(sd)
	if err != nil {
		return PasskeyOptions{}, fmt.Errorf("encode webauthn session: %w", err)
	}
	pk, err := json.Marshal(options)
	if err != nil {
		return PasskeyOptions{}, fmt.Errorf("encode webauthn options: %w", err)
	}
	now := db.Now()
	out := PasskeyOptions{CeremonyID: ids.New(ids.WebAuthnCeremony), PublicKey: pk, ExpiresAt: now.Add(ceremonyTTL)}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webauthn_ceremonies (id, kind, user_id, session_data, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, out.CeremonyID, kind, nullIfEmpty(userID), string(raw), now, out.ExpiresAt)
		return err
	})
	if err != nil {
		return PasskeyOptions{}, fmt.Errorf("save webauthn ceremony: %w", err)
	}
	return out, nil
}

var errCeremony = apperr.Invalid(apperr.FieldError{Field: "ceremonyId",
	Message: "is unknown, already used or expired (a passkey ceremony lasts 5 minutes): start again"})

// takeCeremony consumes a ceremony of this kind begun for userID ("" for a
// discoverable sign-in): whatever the outcome of the finish that follows,
// it cannot be used again.
func (s *Service) takeCeremony(ctx context.Context, kind, id, userID string) (webauthn.SessionData, error) {
	if !ids.Valid(ids.WebAuthnCeremony, id) {
		return webauthn.SessionData{}, errCeremony
	}
	var raw string
	var expires time.Time
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		return tx.QueryRowContext(ctx, `DELETE FROM webauthn_ceremonies WHERE id = $1 AND kind = $2
			AND COALESCE(user_id, '') = $3 RETURNING session_data, expires_at`, id, kind, userID).Scan(&raw, &expires)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return webauthn.SessionData{}, errCeremony
	}
	if err != nil {
		return webauthn.SessionData{}, fmt.Errorf("take webauthn ceremony: %w", err)
	}
	if !expires.After(db.Now()) {
		return webauthn.SessionData{}, errCeremony
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal([]byte(raw), &sd); err != nil {
		return webauthn.SessionData{}, fmt.Errorf("decode webauthn session %s: %w", id, err)
	}
	return sd, nil
}

// refusal is the part of a WebAuthn verification error that is safe and
// useful to show: what was wrong, never the debug details.
func refusal(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.Details != "" {
			return pe.Details
		}
		return pe.Type
	}
	return "the answer could not be verified"
}
