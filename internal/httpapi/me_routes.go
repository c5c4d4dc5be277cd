package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/ids"
)

func (s *Server) meRoutes() {
	s.handle(route{method: "GET", path: "/api/v1/me", tag: "me", access: signedIn,
		summary:  "The signed-in account, with pendingEmail (an email change waiting for confirmation) and impersonator (the admin acting in an impersonation session), each null when there is none.",
		response: auth.MeView{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			u, err := s.Auth.MeView(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, u)
			return nil
		}})
	s.handle(route{method: "PATCH", path: "/api/v1/me", doc: routeDoc{errors: []int{409}}, tag: "me", access: signedIn, rateLimited: true,
		summary: "Change the name, or ask to change the email: that needs currentPassword (not with an API key or impersonation) and takes effect when the new address confirms; the answer shows pendingEmail.",
		request: auth.UpdateMeInput{}, response: auth.User{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in auth.UpdateMeInput
			if err := decode(r, &in); err != nil {
				return err
			}
			u, err := s.Auth.UpdateMe(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, u)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/me", tag: "me", access: signedIn,
		summary: "Delete the account (soft delete): sessions and keys stop working, the email is freed (not with an API key or impersonation).", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Auth.DeleteMe(r.Context(), s.actorOf(r)); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "account deleted"})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/me/password", tag: "me", access: signedIn, rateLimited: true,
		summary: "Change the password; other sessions are signed out, API keys kept unless revokeApiKeys is true (not with an API key or impersonation).",
		request: auth.ChangePasswordInput{}, response: auth.PasswordChanged{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in auth.ChangePasswordInput
			if err := decode(r, &in); err != nil {
				return err
			}
			out, err := s.Auth.ChangePassword(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/me/sessions", tag: "me", access: signedIn,
		summary: "The account's live sessions.", response: page[auth.Session]{}, query: pageParams,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			after, n, err := pageQuery(r, newestFirst(ids.Session))
			if err != nil {
				return err
			}
			list, err := s.Auth.ListSessions(r.Context(), s.actorOf(r), after, n)
			if err != nil {
				return err
			}
			p, err := keyset(r, list, func(x auth.Session) string { return x.ID }, newestFirst(ids.Session))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/me/sessions/{id}", tag: "me", access: signedIn,
		summary: "End one of the account's sessions.", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Auth.RevokeSession(r.Context(), s.actorOf(r), r.PathValue("id")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "session ended"})
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/me/api-keys", tag: "me", access: signedIn,
		summary: "The account's API keys (never the keys themselves).", response: page[auth.APIKey]{}, query: pageParams,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			list, err := s.Auth.ListAPIKeys(r.Context(), s.actorOf(r))
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
	s.handle(route{method: "POST", path: "/api/v1/me/api-keys", doc: routeDoc{errors: []int{409}}, tag: "me", access: signedIn, status: http.StatusCreated,
		summary: "Create an API key; the key is in this response only (not with an API key or impersonation).", request: auth.CreateAPIKeyInput{}, response: auth.CreatedAPIKey{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in auth.CreateAPIKeyInput
			if err := decode(r, &in); err != nil {
				return err
			}
			k, err := s.Auth.CreateAPIKey(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, k)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/me/api-keys/{id}", tag: "me", access: signedIn,
		summary: "Revoke an API key.", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Auth.RevokeAPIKey(r.Context(), s.actorOf(r), r.PathValue("id")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "API key revoked"})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/impersonation/end", tag: "auth", access: signedIn,
		summary:  "End the impersonation session this request is made in (revokes it); the client then goes back to the admin's own session, which it kept.",
		response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Auth.EndImpersonation(r.Context(), s.actorOf(r)); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "impersonation ended"})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/email/change/confirm", doc: routeDoc{errors: []int{409}}, tag: "auth", rateLimited: true,
		summary: "Make a pending email change take effect with the token mailed to the new address (valid 24 h).",
		request: tokenRequest{}, response: auth.User{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in tokenRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			u, err := s.Auth.ConfirmEmailChange(r.Context(), s.actorOf(r), in.Token)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, u)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/email/change/revert", doc: routeDoc{errors: []int{409}}, tag: "auth", rateLimited: true,
		summary: "Undo an email change with the token mailed to the old address (valid 7 days) and a new password: restores the address, signs out every session, revokes every API key.",
		request: resetRequest{}, response: auth.EmailChangeReverted{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in resetRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			out, err := s.Auth.RevertEmailChange(r.Context(), s.actorOf(r), in.Token, in.Password)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
}
