// Package auth owns accounts and everything that proves who a caller is:
// passwords, sessions, access and refresh tokens, API keys, password reset,
// email verification, lockout, and the admin operations on accounts.
package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/mail"
	"github.com/switchboard/switchboard/internal/secret"
)

// Config tunes the service. Zero values take the documented defaults.
type Config struct {
	// PublicURL is the base of links in mails; the Host header is never used.
	PublicURL string
	// SigningKey signs access tokens (HS256); at least 32 bytes.
	SigningKey []byte
	Issuer     string
	Audience   string
	// AccessTTL is the access token lifetime (default and maximum 15 min).
	AccessTTL time.Duration
	// SessionTTL bounds a session's life without activity (default 30 days).
	SessionTTL time.Duration
	// ImpersonationTTL is the life of an impersonation token (default 15 min).
	ImpersonationTTL time.Duration
	Hash             HashParams
	// LockoutThreshold consecutive failures lock an account (default 5) for
	// LockoutBase (default 15 min), doubling with every further lockout up
	// to LockoutMax (default 24 h).
	LockoutThreshold int
	LockoutBase      time.Duration
	LockoutMax       time.Duration
	// WebAuthnRPID is the passkeys' relying party id (a host name; default
	// the public URL's host); an IP address turns passkeys off
	// (passkey_rp.go).
	WebAuthnRPID string
	// Keys seals TOTP secrets at rest (the keyring of gateway credentials).
	Keys *secret.Keyring
}

func (c *Config) defaults() {
	if c.Issuer == "" {
		c.Issuer = "switchboard"
	}
	if c.Audience == "" {
		c.Audience = "switchboard-api"
	}
	if c.AccessTTL <= 0 || c.AccessTTL > 15*time.Minute {
		c.AccessTTL = 15 * time.Minute
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 30 * 24 * time.Hour
	}
	if c.ImpersonationTTL <= 0 || c.ImpersonationTTL > 15*time.Minute {
		c.ImpersonationTTL = 15 * time.Minute
	}
	if c.Hash == (HashParams{}) {
		c.Hash = DefaultHashParams
	}
	if c.LockoutThreshold <= 0 {
		c.LockoutThreshold = 5
	}
	if c.LockoutBase <= 0 {
		c.LockoutBase = 15 * time.Minute
	}
	if c.LockoutMax <= 0 {
		c.LockoutMax = 24 * time.Hour
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.WebAuthnRPID == "" {
		if u, err := url.Parse(c.PublicURL); err == nil {
			c.WebAuthnRPID = strings.ToLower(u.Hostname())
		}
	}
}

// Service implements the account and authentication flows.
type Service struct {
	db     *db.DB
	mail   *mail.Queue
	log    *slog.Logger
	cfg    Config
	tokens tokenIssuer
	// dummyHash is verified against when there is no account, so unknown
	// and known emails cost the same time.
	dummyOnce sync.Once
	dummyHash string
	// workspaces pauses, resumes and ends personal workspaces (lifecycle.go).
	workspaces Workspaces
	// planHook reports an admin's plan change (planhook.go).
	planHook PlanHook
}

// New returns the service, which mails through m. It fails if the signing
// key is too short.
func New(d *db.DB, m *mail.Queue, log *slog.Logger, cfg Config) (*Service, error) {
	cfg.defaults()
	if len(cfg.SigningKey) < 32 {
		return nil, errors.New("auth: token signing key must be at least 32 bytes")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: d, mail: m, log: log, cfg: cfg,
		tokens: tokenIssuer{key: cfg.SigningKey, issuer: cfg.Issuer, audience: cfg.Audience,
			verified: &verifiedCache{m: map[string]Claims{}}}}, nil
}

// AccessTTL is how long issued access tokens live.
func (s *Service) AccessTTL() time.Duration { return s.cfg.AccessTTL }

// mailTx queues m in tx: it is sent (by a job worker) only if tx commits,
// and is not lost if the node dies right after. Sending never slows or
// fails the request, and its timing does not reveal whether an account
// exists.
func (s *Service) mailTx(ctx context.Context, tx *db.Tx, m mail.Message) error {
	return s.mail.Enqueue(ctx, tx, m)
}

// dummy returns a hash with the configured cost to verify against when
// there is no real one. It is made on first use, not at start-up, to keep
// start-up fast and idle memory low.
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		h, err := hashPassword("switchboard-dummy-password", s.cfg.Hash)
		if err != nil {
			panic("auth: hash dummy password: " + err.Error())
		}
		s.dummyHash = h
	})
	return s.dummyHash
}
