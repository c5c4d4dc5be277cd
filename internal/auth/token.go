package auth

import (
	"errors"
	"fmt"
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
	return c, nil
}
