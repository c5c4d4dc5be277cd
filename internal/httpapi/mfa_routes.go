package httpapi

import (
	"net/http"
	"strings"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/auth"
)

// loginMFARequest completes a sign-in with its second factor.
type loginMFARequest struct {
	MFAToken string `json:"mfaToken"`
	auth.FactorProof
	// Session "cookie" puts the refresh token in an HttpOnly cookie
	// instead of the body (browsers), as on login.
	Session sessionMode `json:"session,omitempty" jsonschema:"enum=cookie"`
}

// loginMFAPasskeyRequest starts the passkey step of a sign-in.
type loginMFAPasskeyRequest struct {
	MFAToken string `json:"mfaToken"`
}

type codeRequest struct {
	Code string `json:"code"`
}

var errMFARequired = apperr.New(apperr.MFARequired,
	"this organization requires a second factor: set one up (POST /api/v1/me/2fa/totp, or add a passkey) to act in it, or switch to another workspace")

// mfaExempt lists what a member acting in an organization that requires a
// second factor may still do without one: enroll, see who they are, and
// sign out or switch away.
func mfaExempt(rt route) bool {
	p := rt.path
	return strings.HasPrefix(p, "/api/v1/auth/") || p == "/api/v1/me/2fa" || strings.HasPrefix(p, "/api/v1/me/2fa/") ||
		p == "/api/v1/me/passkeys" || strings.HasPrefix(p, "/api/v1/me/passkeys/") ||
		(rt.method == "GET" && (p == "/api/v1/me" || p == "/api/v1/orgs" || p == "/api/v1/orgs/{id}"))
}

func (s *Server) mfaRoutes() {
	s.handle(route{method: "POST", path: "/api/v1/auth/login/mfa", doc: routeDoc{errors: []int{401, 409}}, tag: "auth", rateLimited: true,
		summary: "Complete a sign-in that answered mfaRequired: the mfaToken (single use, 5 minutes) and a TOTP code, a recovery code, " +
			"or a passkey {ceremonyId, credential} from POST /api/v1/auth/login/mfa/passkey/begin. " +
			"Answers as login does. Wrong codes and refused passkeys count toward the account's lockout like wrong passwords.",
		request: loginMFARequest{}, response: auth.Tokens{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in loginMFARequest
			if err := decode(r, &in); err != nil {
				return err
			}
			if err := s.checkSessionMode(r, in.Session); err != nil {
				return err
			}
			t, err := s.Auth.LoginMFA(r.Context(), s.actorOf(r), in.MFAToken, in.FactorProof)
			if err != nil {
				return err
			}
			s.writeTokens(w, http.StatusOK, t, in.Session)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/login/mfa/passkey/begin", doc: routeDoc{errors: []int{401, 409}}, tag: "auth", rateLimited: true,
		summary: "Start the passkey step of a sign-in that answered mfaRequired with methods including passkey: answers ceremonyId and publicKey " +
			"(PublicKeyCredentialRequestOptions, JSON form, allowing only the account's passkeys) for navigator.credentials.get. " +
			"The mfaToken is not used up; send the browser's answer to POST /api/v1/auth/login/mfa as passkey {ceremonyId, credential}.",
		request: loginMFAPasskeyRequest{}, response: auth.PasskeyOptions{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in loginMFAPasskeyRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			out, err := s.Auth.BeginLoginMFAPasskey(r.Context(), s.ownOrigin(r), in.MFAToken)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/reauth/passkey/begin", doc: routeDoc{errors: []int{409}}, tag: "auth", access: signedIn, rateLimited: true,
		summary: "Start re-authenticating with a passkey: answers ceremonyId and publicKey (request options allowing only the account's passkeys); " +
			"send the browser's answer to POST /api/v1/auth/reauth as passkey {ceremonyId, credential}. Not with an API key or in an impersonation session.",
		response: auth.PasskeyOptions{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			out, err := s.Auth.BeginReauthPasskey(r.Context(), s.actorOf(r), s.ownOrigin(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/reauth", doc: routeDoc{errors: []int{409}}, tag: "auth", access: signedIn, rateLimited: true,
		summary: "Confirm it is you (password, TOTP code, recovery code or passkey): the session may take sensitive actions for 5 minutes. " +
			"Not with an API key or in an impersonation session.",
		request: auth.ReauthInput{}, response: auth.Reauthenticated{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in auth.ReauthInput
			if err := decode(r, &in); err != nil {
				return err
			}
			out, err := s.Auth.Reauth(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/me/2fa", tag: "me", access: signedIn,
		summary: "The account's second factors.", response: auth.SecondFactors{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			out, err := s.Auth.SecondFactors(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/me/2fa/totp", doc: routeDoc{errors: []int{409}}, tag: "me", access: signedIn,
		summary: "Start TOTP enrollment: a new secret and its otpauth:// URL for an authenticator app; confirm with a code " +
			"(re-authentication required).", response: auth.TOTPEnrollment{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			out, err := s.Auth.BeginTOTP(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/me/2fa/totp/confirm", doc: routeDoc{errors: []int{409}}, tag: "me", access: signedIn, rateLimited: true,
		summary: "Turn TOTP on with a code from the authenticator; returns 10 single-use recovery codes, shown only now.",
		request: codeRequest{}, response: auth.RecoveryCodes{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in codeRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			out, err := s.Auth.ConfirmTOTP(r.Context(), s.actorOf(r), in.Code)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/me/2fa/totp", tag: "me", access: signedIn,
		summary: "Turn TOTP off; its recovery codes go with it (re-authentication required).", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Auth.DisableTOTP(r.Context(), s.actorOf(r)); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "TOTP turned off"})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/me/2fa/recovery-codes", doc: routeDoc{errors: []int{409}}, tag: "me", access: signedIn,
		summary: "Replace the recovery codes with 10 new ones, shown only now (re-authentication required).", response: auth.RecoveryCodes{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			out, err := s.Auth.RegenerateRecoveryCodes(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/admin/users/{id}/reset-2fa", doc: routeDoc{errors: []int{409}}, tag: "admin", access: signedIn,
		perm:    actor.PermUsersManage,
		summary: "Remove an account's second factors (TOTP, recovery codes and passkeys) for a user who lost them, with a reason; audited, and the user is told by mail.",
		request: auth.ResetFactorsInput{}, response: auth.User{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in auth.ResetFactorsInput
			if err := decode(r, &in); err != nil {
				return err
			}
			u, err := s.Auth.ResetFactors(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, u)
			return nil
		}})
}
