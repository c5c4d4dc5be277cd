package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/org"
)

// The dashboard keeps its refresh token where page scripts cannot read it:
// login and refresh called with "session": "cookie" set it as an HttpOnly,
// SameSite=Strict cookie scoped to the auth routes and leave it out of the
// body. The access token stays in the page's memory only.
const (
	refreshCookie     = "switchboard_refresh"
	refreshCookiePath = "/api/v1/auth"
	// refreshCookieTTL outlives any refresh token; the server decides
	// whether the token inside is still good.
	refreshCookieTTL = 90 * 24 * time.Hour
)

// sessionMode is the optional "session" field of the requests that can
// hand out a refresh token: "cookie", or empty for the token in the body.
type sessionMode string

func (m sessionMode) validate() error {
	if m != "" && m != "cookie" {
		return apperr.Invalid(apperr.FieldError{Field: "session", Message: `must be "cookie" or absent`})
	}
	return nil
}

// checkSessionMode refuses an unknown session mode and, for a cookie
// session, a request from another site (checkOrigin): what every route
// that can hand out a refresh token checks first.
func (s *Server) checkSessionMode(r *http.Request, m sessionMode) error {
	if err := m.validate(); err != nil {
		return err
	}
	if m == "cookie" {
		return s.checkOrigin(r)
	}
	return nil
}

// checkOrigin admits a cookie-authenticated request only from the
// request's own origin or from the public URL's. A cross-site page cannot
// forge Origin, so this stops request forgery even where SameSite does not
// apply; a CORS allow-list never widens it.
func (s *Server) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return apperr.New(apperr.Forbidden, "a cookie session needs the Origin header of this site")
	}
	if origin == s.ownOrigin(r) {
		return nil
	}
	if s.opt.PublicURL != "" {
		if u, err := url.Parse(s.opt.PublicURL); err == nil && strings.EqualFold(origin, u.Scheme+"://"+u.Host) {
			return nil
		}
	}
	return apperr.New(apperr.Forbidden, "a cookie session is only accepted from this site's own origin")
}

// ownOrigin is the origin the request was addressed to.
func (s *Server) ownOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if s.opt.TrustProxy && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host)
}

// secureCookies reports whether the cookie must only travel over HTTPS.
func (s *Server) secureCookies() bool {
	return strings.HasPrefix(strings.ToLower(s.opt.PublicURL), "https://")
}

func (s *Server) setRefreshCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: refreshCookie, Value: token, Path: refreshCookiePath,
		MaxAge: int(refreshCookieTTL / time.Second), HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteStrictMode})
}

func (s *Server) clearRefreshCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: refreshCookie, Value: "", Path: refreshCookiePath,
		MaxAge: -1, HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteStrictMode})
}

// refreshFromCookie returns the refresh token the browser sent, if any.
func refreshFromCookie(r *http.Request) string {
	c, err := r.Cookie(refreshCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// writeTokens answers with t; in cookie mode the refresh token goes into
// the cookie instead of the body.
func (s *Server) writeTokens(w http.ResponseWriter, status int, t auth.Tokens, mode sessionMode) {
	if mode == "cookie" && t.RefreshToken != "" {
		s.setRefreshCookie(w, t.RefreshToken)
		t.RefreshToken = ""
	}
	writeJSON(w, status, t)
}

// acceptSignupRequest is an invitation sign-up, optionally as a browser
// cookie session.
type acceptSignupRequest struct {
	org.AcceptSignupInput
	Session sessionMode `json:"session,omitempty" jsonschema:"enum=cookie"`
}
