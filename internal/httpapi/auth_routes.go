package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/auth"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// Session "cookie" puts the refresh token in an HttpOnly cookie
	// instead of the body (browsers).
	Session sessionMode `json:"session,omitempty" jsonschema:"enum=cookie"`
}

type refreshRequest struct {
	// RefreshToken is required unless Session is "cookie", which reads it
	// from the cookie and sets the new one there.
	RefreshToken string      `json:"refreshToken,omitempty"`
	Session      sessionMode `json:"session,omitempty" jsonschema:"enum=cookie"`
}

type emailRequest struct {
	Email string `json:"email"`
}

type tokenRequest struct {
	Token string `json:"token"`
}

type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

type messageResponse struct {
	Message string `json:"message"`
}

type revokedResponse struct {
	Revoked int64 `json:"revoked"`
}

func (s *Server) authRoutes() {
	s.handle(route{method: "POST", path: "/api/v1/auth/signup", doc: routeDoc{errors: []int{409}}, tag: "auth", rateLimited: true, status: http.StatusCreated,
		summary: "Create an account and mail a verification link.", request: auth.SignupInput{}, response: auth.User{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in auth.SignupInput
			if err := decode(r, &in); err != nil {
				return err
			}
			u, err := s.Auth.Signup(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, u)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/login", tag: "auth", rateLimited: true,
		summary: "Sign in with email and password; returns an access and a refresh token or, when the account has a second factor, " +
			"{mfaRequired: true, mfaToken, methods} and no session yet: complete it with POST /api/v1/auth/login/mfa.",
		request: loginRequest{}, doc: routeDoc{oneOf: []any{auth.Tokens{}, auth.MFAChallenge{}}, errors: []int{401}},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in loginRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			if err := s.checkSessionMode(r, in.Session); err != nil {
				return err
			}
			res, err := s.Auth.Login(r.Context(), s.actorOf(r), in.Email, in.Password)
			if err != nil {
				return err
			}
			if res.Challenge != nil {
				writeJSON(w, http.StatusOK, res.Challenge)
				return nil
			}
			s.writeTokens(w, http.StatusOK, *res.Tokens, in.Session)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/refresh", doc: routeDoc{errors: []int{401}}, tag: "auth", rateLimited: true,
		summary: "Exchange a refresh token (single use) for new tokens.", request: refreshRequest{}, response: auth.Tokens{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in refreshRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			if err := in.Session.validate(); err != nil {
				return err
			}
			token := in.RefreshToken
			if in.Session == "cookie" {
				if err := s.checkOrigin(r); err != nil {
					return err
				}
				if token == "" {
					token = refreshFromCookie(r)
				}
				if token == "" {
					return apperr.New(apperr.Unauthorized, "no session cookie: sign in")
				}
			}
			t, err := s.Auth.Refresh(r.Context(), s.actorOf(r), token)
			if err != nil {
				if in.Session == "cookie" && apperr.CodeOf(err) == apperr.Unauthorized {
					s.clearRefreshCookie(w)
				}
				return err
			}
			s.writeTokens(w, http.StatusOK, t, in.Session)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/logout", tag: "auth", access: signedIn,
		summary: "End the current session (and clear the browser's session cookie when it is sent).", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if refreshFromCookie(r) != "" {
				if err := s.checkOrigin(r); err != nil {
					return err
				}
				s.clearRefreshCookie(w)
			}
			if err := s.Auth.Logout(r.Context(), s.actorOf(r)); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "signed out"})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/logout-all", tag: "auth", access: signedIn,
		summary: "End every session of the account, this one included.", response: revokedResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			n, err := s.Auth.LogoutAll(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, revokedResponse{Revoked: n})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/password/forgot", tag: "auth", rateLimited: true, status: http.StatusAccepted,
		summary: "Mail a password reset link if the account exists; the answer is the same either way.",
		request: emailRequest{}, response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in emailRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			if err := s.Auth.ForgotPassword(r.Context(), s.actorOf(r), in.Email); err != nil {
				return err
			}
			writeJSON(w, http.StatusAccepted, messageResponse{Message: "if an account uses this address, a reset link is on its way"})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/password/reset", tag: "auth", rateLimited: true,
		summary: "Set a new password with a reset token; signs out every session.", request: resetRequest{}, response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in resetRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			if err := s.Auth.ResetPassword(r.Context(), s.actorOf(r), in.Token, in.Password); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "password changed; sign in with the new password"})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/email/verify", tag: "auth", rateLimited: true,
		summary: "Confirm an email address with the mailed token.", request: tokenRequest{}, response: auth.User{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in tokenRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			u, err := s.Auth.VerifyEmail(r.Context(), s.actorOf(r), in.Token)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, u)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/email/resend", doc: routeDoc{errors: []int{409}}, tag: "auth", access: signedIn, rateLimited: true, status: http.StatusAccepted,
		summary: "Mail a new verification link to the account's address.", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Auth.ResendVerification(r.Context(), s.actorOf(r)); err != nil {
				return err
			}
			writeJSON(w, http.StatusAccepted, messageResponse{Message: "verification mail sent"})
			return nil
		}})
}
