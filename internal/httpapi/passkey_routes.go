package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/ids"
)

// passkeyLoginRequest is the browser's answer to a passwordless sign-in,
// optionally as a cookie session (as for POST /auth/login).
type passkeyLoginRequest struct {
	auth.PasskeyLoginInput
	Session sessionMode `json:"session,omitempty" jsonschema:"enum=cookie"`
}

// Passkeys (WebAuthn): the account's own list, and passwordless sign-in.
// Every route answers 409 PASSKEYS_UNAVAILABLE when the relying party id
// is an IP address; the rest of the API works as ever.
func (s *Server) passkeyRoutes() {
	s.handle(route{method: "GET", path: "/api/v1/me/passkeys", tag: "me", access: signedIn,
		summary: "The account's passkeys, newest first (never their keys).", response: page[auth.Passkey]{}, query: pageParams,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			list, err := s.Auth.ListPasskeys(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			p, err := keyset(r, list, func(x auth.Passkey) string { return x.ID }, newestFirst(ids.Passkey))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/me/passkeys/register/begin", doc: routeDoc{errors: []int{409}}, tag: "me", access: signedIn, rateLimited: true,
		summary:  "Start adding a passkey: answers ceremonyId and publicKey, the PublicKeyCredentialCreationOptions (JSON form, base64url) for navigator.credentials.create; finish within 5 minutes (not with an API key or impersonation).",
		response: auth.PasskeyOptions{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			out, err := s.Auth.BeginPasskeyRegistration(r.Context(), s.actorOf(r), s.ownOrigin(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/me/passkeys/register/finish", doc: routeDoc{errors: []int{409}}, tag: "me", access: signedIn, rateLimited: true, status: http.StatusCreated,
		summary: "Finish adding a passkey with the browser's attestation (the credential navigator.credentials.create returned, JSON form); the ceremony works once. The account holder is mailed.",
		request: auth.FinishPasskeyRegistrationInput{}, response: auth.Passkey{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in auth.FinishPasskeyRegistrationInput
			if err := decode(r, &in); err != nil {
				return err
			}
			p, err := s.Auth.FinishPasskeyRegistration(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, p)
			return nil
		}})
	s.handle(route{method: "PATCH", path: "/api/v1/me/passkeys/{id}", tag: "me", access: signedIn,
		summary: "Rename a passkey.", request: auth.RenamePasskeyInput{}, response: auth.Passkey{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in auth.RenamePasskeyInput
			if err := decode(r, &in); err != nil {
				return err
			}
			p, err := s.Auth.RenamePasskey(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/me/passkeys/{id}", tag: "me", access: signedIn,
		summary: "Delete a passkey: it can no longer sign in. The account holder is mailed.", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Auth.DeletePasskey(r.Context(), s.actorOf(r), r.PathValue("id")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "passkey deleted"})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/passkey/begin", doc: routeDoc{errors: []int{409}}, tag: "auth", rateLimited: true,
		summary:  "Start a passwordless sign-in: answers ceremonyId and publicKey, the PublicKeyCredentialRequestOptions (JSON form, base64url) for navigator.credentials.get, with no allowCredentials (the browser offers the passkeys it holds for this site); finish within 5 minutes.",
		response: auth.PasskeyOptions{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			out, err := s.Auth.BeginPasskeyAssertion(r.Context(), s.ownOrigin(r), "")
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/passkey/finish", doc: routeDoc{errors: []int{409}}, tag: "auth", rateLimited: true,
		summary: "Finish a passwordless sign-in with the browser's assertion (its userHandle names the account); answers as POST /auth/login does. A refused answer counts toward the account's lockout.",
		request: passkeyLoginRequest{}, response: auth.Tokens{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in passkeyLoginRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			if err := s.checkSessionMode(r, in.Session); err != nil {
				return err
			}
			t, err := s.Auth.PasskeyLogin(r.Context(), s.actorOf(r), in.PasskeyLoginInput)
			if err != nil {
				return err
			}
			s.writeTokens(w, http.StatusOK, t, in.Session)
			return nil
		}})
}
