package auth

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
)

// Claims is the access token's payload (the API's TokenPayload). The
// session it names is checked on every request, so revoking the session
// stops the token at once on every node.
type Claims struct {
	UserID         string        `json:"userId"`
	Email          string        `json:"email"`
	Plan           actor.Plan    `json:"plan"`
	SessionID      string        `json:"sessionId"`
	Role           actor.Role    `json:"role"`
	OrganizationID string        `json:"organizationId,omitempty"`
	OrgRole        actor.OrgRole `json:"orgRole,omitempty"`
	ImpersonatorID string        `json:"impersonatorId,omitempty"`
	jwt.RegisteredClaims
}

// signingMethod is the only algorithm accepted; the parser refuses every
// other, including "none".
var signingMethod = jwt.SigningMethodHS256

type tokenIssuer struct {
	key      []byte
	issuer   string
	audience string
	// verified remembers tokens whose signature and claims already checked
	// out, so a client making many calls with one token pays for the HMAC
	// and JSON decoding once. Expiry is still checked on every use, and the
	// session behind the token is read on every request regardless.
	verified *verifiedCache
}

type verifiedCache struct {
	mu sync.RWMutex
	m  map[string]Claims
}

// maxVerified bounds the cache; when full it starts over, which costs only
// a re-verification per live token.
const maxVerified = 10000

func (v *verifiedCache) get(tok string) (Claims, bool) {
	if v == nil {
		return Claims{}, false
	}
	v.mu.RLock()
	c, ok := v.m[tok]
	v.mu.RUnlock()
	return c, ok
}

func (v *verifiedCache) put(tok string, c Claims) {
	if v == nil {
		return
	}
	v.mu.Lock()
	if len(v.m) >= maxVerified {
		v.m = make(map[string]Claims, 1024)
	}
	v.m[tok] = c
	v.mu.Unlock()
}

func (ti tokenIssuer) sign(c Claims, now time.Time, ttl time.Duration) (string, error) {
	c.Issuer = ti.issuer
	c.Audience = jwt.ClaimStrings{ti.audience}
	c.Subject = c.UserID
	c.IssuedAt = jwt.NewNumericDate(now)
	c.NotBefore = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	s, err := jwt.NewWithClaims(signingMethod, c).SignedString(ti.key)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return s, nil
}

var errBadToken = apperr.New(apperr.Unauthorized, "access token is invalid or expired")

func (ti tokenIssuer) parse(raw string) (Claims, error) {
	if c, ok := ti.verified.get(raw); ok {
		now := time.Now()
		if c.ExpiresAt == nil || !now.Before(c.ExpiresAt.Time.Add(5*time.Second)) {
			return Claims{}, apperr.New(apperr.Unauthorized, "access token has expired; refresh it")
		}
		return c, nil
	}
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return ti.key, nil },
		jwt.WithValidMethods([]string{signingMethod.Alg()}),
		jwt.WithIssuer(ti.issuer),
		jwt.WithAudience(ti.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, apperr.New(apperr.Unauthorized, "access token has expired; refresh it")
		}
		return Claims{}, errBadToken
	}
	if c.UserID == "" || c.SessionID == "" || c.Subject != c.UserID {
		return Claims{}, errBadToken
	}
	ti.verified.put(raw, c)
	return c, nil
}
