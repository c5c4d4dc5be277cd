package httpapi

import (
	"net/http"
	"path"
	"strings"
)

// CORS lets browser apps served from the origins an operator lists
// (--cors-origins) call /api/v1. The API authenticates with bearer tokens,
// never cookies, so no credentials mode is offered, and the allowed origin
// is always echoed exactly, never "*". Other origins get no CORS headers,
// so the browser keeps them out. Inbound webhooks (/hooks/*), health and
// metrics are for servers, not browsers, and stay without CORS.
const (
	corsAllowMethods = "GET, POST, PUT, PATCH, DELETE"
	corsAllowHeaders = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
	// What a script may read from answers: rate-limit state, when to
	// retry, the id to quote and whether an answer was replayed.
	corsExposeHeaders = "RateLimit, RateLimit-Policy, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-Id, Idempotent-Replayed"
	// Browsers cap this (Chromium at 2 h); an hour saves most preflights.
	corsMaxAge = "3600"
)

func isCORSPath(p string) bool {
	p = path.Clean("/" + p)
	return p == "/api/v1" || strings.HasPrefix(p, "/api/v1/")
}

// cors answers preflights from allowed origins and marks answers to them
// readable; everything else passes through untouched.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.opt.CORSOrigins) == 0 {
		return next
	}
	allowed := make(map[string]bool, len(s.opt.CORSOrigins))
	for _, o := range s.opt.CORSOrigins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isCORSPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		// The answer depends on Origin: caches must not hand one origin's
		// answer to another.
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" || !allowed[origin] {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		next.ServeHTTP(w, r)
	})
}
