package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/auth"
)

// authenticate resolves the request's bearer credential into an Actor and
// keeps the account it read in the returned context.
func (s *Server) authenticate(r *http.Request) (actor.Actor, context.Context, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return actor.Actor{}, nil, apperr.New(apperr.Unauthorized, "sign in: send Authorization: Bearer <access token or API key>")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return actor.Actor{}, nil, apperr.New(apperr.Unauthorized, "Authorization header must be: Bearer <token>")
	}
	a, u, err := s.Auth.AuthenticateUser(r.Context(), strings.TrimSpace(token), s.requestMeta(r))
	if err != nil {
		return actor.Actor{}, nil, err
	}
	return a, auth.WithUser(r.Context(), u), nil
}
