package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/ids"
)

// orgAPIKeyRoutes serve an organization's own API keys: ORG_ADMIN+ creates,
// lists and revokes them; they act as the organization and outlive the
// member who created them.
func (s *Server) orgAPIKeyRoutes() {
	s.handle(route{method: "GET", path: "/api/v1/orgs/{id}/api-keys", tag: "organizations", access: signedIn,
		summary: "The organization's own API keys (never the keys themselves); ORG_ADMIN+.", response: page[auth.APIKey]{}, query: pageParams,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			in, err := s.Orgs.ActIn(r.Context(), s.actorOf(r), r.PathValue("id"), actor.PermOrgAPIKeys)
			if err != nil {
				return err
			}
			list, err := s.Auth.ListOrgAPIKeys(r.Context(), in)
			if err != nil {
				return err
			}
			p, err := keyset(r, list, func(x auth.APIKey) string { return x.ID }, newestFirst(ids.APIKey))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/orgs/{id}/api-keys", doc: routeDoc{errors: []int{409}}, tag: "organizations", access: signedIn, status: http.StatusCreated,
		summary: "Create an API key the organization owns, acting as the organization within its scopes (required); ORG_ADMIN+, not with an API key or impersonation. The key is in this response only.",
		request: auth.CreateAPIKeyInput{}, response: auth.CreatedAPIKey{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var body auth.CreateAPIKeyInput
			if err := decode(r, &body); err != nil {
				return err
			}
			in, err := s.Orgs.ActIn(r.Context(), s.actorOf(r), r.PathValue("id"), actor.PermOrgAPIKeys)
			if err != nil {
				return err
			}
			k, err := s.Auth.CreateOrgAPIKey(r.Context(), in, body)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, k)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/orgs/{id}/api-keys/{keyId}", tag: "organizations", access: signedIn,
		summary: "Revoke one of the organization's API keys; ORG_ADMIN+.", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			in, err := s.Orgs.ActIn(r.Context(), s.actorOf(r), r.PathValue("id"), actor.PermOrgAPIKeys)
			if err != nil {
				return err
			}
			if err := s.Auth.RevokeOrgAPIKey(r.Context(), in, r.PathValue("keyId")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "API key revoked"})
			return nil
		}})
}
