package httpapi

import (
	"net/http"
	"strings"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
)

// authenticate resolves the request's bearer credential into an Actor.
func (s *Server) authenticate(r *http.Request) (actor.Actor, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return actor.Actor{}, apperr.New(apperr.Unauthorized, "sign in: send Authorization: Bearer <access token or API key>")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return actor.Actor{}, apperr.New(apperr.Unauthorized, "Authorization header must be: Bearer <token>")
	}
	return s.Auth.Authenticate(r.Context(), strings.TrimSpace(token), s.requestMeta(r))
}
