// Package httpapi serves Switchboard's JSON API: routing, middleware, the
// error envelope, the OpenAPI document, and one thin handler per flow.
// Handlers decode and validate input, call one service method with the
// request's Actor, and encode the result; they never touch SQL.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/events"
	"github.com/switchboard/switchboard/internal/flag"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/idempotency"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/org"
	"github.com/switchboard/switchboard/internal/plugin/analytics"
	"github.com/switchboard/switchboard/internal/plugin/install"
	"github.com/switchboard/switchboard/internal/plugin/market"
	"github.com/switchboard/switchboard/internal/ratelimit"
	"github.com/switchboard/switchboard/internal/telemetry"
	"github.com/switchboard/switchboard/internal/workflow"
)

// Options are the HTTP-layer settings.
type Options struct {
	// TrustProxy makes the client IP come from X-Forwarded-For / X-Real-IP;
	// enable it only behind a proxy that sets them.
	TrustProxy bool
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// MaxUploadBytes caps the bodies of upload routes such as plugin
	// submissions (default 16 MiB).
	MaxUploadBytes int64
	// AuthRateLimit is how many requests one IP may make to the auth
	// endpoints per minute (default 30).
	AuthRateLimit int
	// APIRateLimitScale multiplies every plan's per-minute API request
	// limits (apilimit.go); 0 means 1.
	APIRateLimitScale float64
	Version           string
	// SeparateMetrics leaves /metrics off this handler; MetricsHandler
	// serves it on a listener of its own.
	SeparateMetrics bool
	// CORSOrigins are the exact origins whose browser apps may call
	// /api/v1 (cors.go); empty: no CORS headers at all.
	CORSOrigins []string
	// PublicURL is where users reach the server: a cookie session is also
	// accepted from its origin, and its cookie is Secure when it is https.
	PublicURL string
}

// Deps are the services the API calls.
type Deps struct {
	Log *slog.Logger
	// Metrics is the node's registry that /metrics serves (nil: one of
	// the server's own, with the request metrics only).
	Metrics *telemetry.Metrics
	Auth    *auth.Service
	Audit   *audit.Service
	Flags   *flag.Service
	Orgs    *org.Service
	Limiter *ratelimit.Limiter
	// APILimiter enforces the plans' API request limits (nil: none).
	APILimiter *ratelimit.Local
	// Ready reports whether the node can serve (database reachable).
	Ready func(ctx context.Context) error

	// Gateways serves /api/v1/gateways and the inbound /hooks/gateways.
	Gateways *gateway.Service

	// Credits, Limits and Billing serve /api/v1/credits, /api/v1/usage,
	// /api/v1/billing and the Stripe webhook /hooks/stripe.
	Credits *credit.Service
	Limits  *credit.Limits
	Billing *billing.Service

	// Market and Installs serve /api/v1/plugins, /api/v1/marketplace,
	// /api/v1/admin/marketplace and /api/v1/installations.
	Market   *market.Service
	Installs *install.Service
	// Workflows serves /api/v1/workflows, /api/v1/runs and the workflow
	// webhooks /hooks/workflows.
	Workflows *workflow.Service
	// Analytics serves /api/v1/installations/{id}/analytics.
	Analytics *analytics.Service
	// Idempotency keeps the Idempotency-Key of the routes that create
	// runs, executions, sends and charges (nil: keys are not honoured).
	Idempotency *idempotency.Store
	// System serves /api/v1/admin/system.
	System *jobs.SystemStatus
	// Events owns event subscriptions (event_routes.go).
	Events *events.Service
}

// Server is the HTTP API.
type Server struct {
	Deps
	opt     Options
	mux     *http.ServeMux
	routes  []route
	metrics *metrics
	handler http.Handler
	streams streams
}

// New builds the API and its routes.
func New(d Deps, opt Options) *Server {
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 1 << 20
	}
	if opt.MaxUploadBytes <= 0 {
		opt.MaxUploadBytes = 16 << 20
	}
	if opt.AuthRateLimit <= 0 {
		opt.AuthRateLimit = 30
	}
	if opt.APIRateLimitScale <= 0 {
		opt.APIRateLimitScale = 1
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	s := &Server{Deps: d, opt: opt, mux: http.NewServeMux(), metrics: newMetrics(d.Metrics)}
	s.registerRoutes()
	s.handler = s.requestID(s.recoverer(s.observe(s.securityHeaders(
		s.auditAdmin(s.cors(s.rejectHostileBytes(s.bodyLimit(s.mux))))))))
	return s
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// access says who may call a route.
type access int

const (
	public access = iota
	signedIn
)

// route is one API operation: how it is served and how it is documented.
type route struct {
	method, path string
	summary      string
	tag          string
	access       access
	// perm, when set, is checked with actor.Can after authentication
	// (requirePermission).
	perm actor.Permission
	// keyPerm names the permission the service checks, for a route without
	// perm (its check needs the organization in the path): an API key's
	// scopes must cover it (keyScopes).
	keyPerm actor.Permission
	// roles, when set, admits only these platform roles (requireRole).
	roles []actor.Role
	// rateLimited applies the per-IP auth rate limit.
	rateLimited bool
	// upload lets the route take bodies up to MaxUploadBytes instead of
	// MaxBodyBytes.
	upload   bool
	request  any
	response any
	status   int
	query    []param
	handler  func(w http.ResponseWriter, r *http.Request) error

	// idempotent honours the Idempotency-Key header (withIdempotency).
	idempotent bool

	// doc says what the OpenAPI document cannot infer from the rest.
	doc routeDoc
}

type param struct {
	name, description string
}

// handle registers a route: authentication, permission and rate-limit
// checks are applied here, once, from the route's declaration.
func (s *Server) handle(rt route) {
	if rt.status == 0 {
		rt.status = http.StatusOK
	}
	s.routes = append(s.routes, rt)
	if rt.idempotent {
		rt.handler = s.withIdempotency(rt.handler)
	}
	limit := s.opt.MaxBodyBytes
	if rt.upload {
		limit = max(s.opt.MaxUploadBytes, s.opt.MaxBodyBytes)
	}
	h := func(w http.ResponseWriter, r *http.Request) {
		holder, _ := r.Context().Value(actorHolderKey{}).(*actorHolder)
		if holder != nil {
			holder.route = rt.method + " " + rt.path
		}
		if r.ContentLength > limit {
			s.writeError(w, r, apperr.New(apperr.PayloadTooLarge, "request body exceeds %d bytes", limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if rt.rateLimited {
			if err := s.rateLimit(r, "auth"); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if rt.access != public {
			a, ctx, err := s.authenticate(r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			r = r.WithContext(ctx)
			if holder != nil {
				holder.a = a
			}
			if err := s.apiRateLimit(w, r, a); err != nil {
				s.writeError(w, r, err)
				return
			}
			if err := keyScopes(a, rt); err != nil {
				s.writeError(w, r, err)
				return
			}
			if len(rt.roles) > 0 && !slices.Contains(rt.roles, a.Role) {
				s.writeError(w, r, apperr.New(apperr.Forbidden, "this needs one of the roles %v", rt.roles))
				return
			}
			if a.MFARequired && !mfaExempt(rt) {
				s.writeError(w, r, errMFARequired)
				return
			}
			if rt.perm != "" && !a.Can(rt.perm) {
				s.writeError(w, r, errForbidden(rt.perm))
				return
			}
			r = r.WithContext(actor.NewContext(r.Context(), a))
		}
		if err := rt.handler(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
	s.mux.HandleFunc(rt.method+" "+rt.path, h)
}

// isAdminPath reports whether a request path falls under the admin API.
// The path is cleaned first, as the router would, so no spelling of an
// admin path escapes the audit.
func isAdminPath(p string) bool {
	p = path.Clean("/" + p)
	return p == "/api/v1/admin" || strings.HasPrefix(p, "/api/v1/admin/")
}

// auditAdmin records every request to the admin API — who, what, how it
// ended and how long it took — after it is served, whatever its outcome:
// refused by authentication, permission, validation or the hostile-bytes
// check, sent to a route that does not exist, or served. It wraps the
// whole router so that nothing under /api/v1/admin answers unrecorded.
func (s *Server) auditAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isAdminPath(r.URL.Path) || s.Audit == nil {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sr := &statusRecorder{ResponseWriter: w}
		holder := &actorHolder{}
		next.ServeHTTP(sr, r.WithContext(context.WithValue(r.Context(), actorHolderKey{}, holder)))
		if sr.status == 0 {
			sr.status = http.StatusOK
		}
		// The row is written before the answer leaves, so whoever reads
		// the log next finds it — except when the database is unreachable:
		// then the answer goes first rather than wait for it twice.
		if sr.status == http.StatusServiceUnavailable {
			_ = http.NewResponseController(sr).Flush()
		}
		a := holder.a
		if a.UserID == "" && r.Header.Get("Authorization") != "" {
			// Refused before a route authenticated it (no such route, bad
			// bytes): still name who asked, when the credential is good.
			if found, _, err := s.authenticate(r); err == nil {
				a = found
			}
		}
		if a.UserID == "" {
			a = actor.Anonymous(s.requestMeta(r))
		}
		if err := s.Audit.RecordAdminRequest(context.WithoutCancel(r.Context()), a, audit.AdminRequest{
			Method: r.Method, Path: r.URL.EscapedPath(), Route: holder.route, Query: r.URL.Query(), Status: sr.status, Duration: time.Since(start),
		}); err != nil {
			s.Log.Error("record admin request", "requestId", requestIDFrom(r.Context()), "error", err)
		}
	})
}

// actorHolder lets auditAdmin learn the route that matched and the actor
// that authentication found deeper in the chain.
type actorHolder struct {
	a     actor.Actor
	route string
}
type actorHolderKey struct{}

// actorOf returns the request's actor: the authenticated one on signed-in
// routes, an anonymous one carrying request metadata elsewhere.
func (s *Server) actorOf(r *http.Request) actor.Actor {
	a := actor.FromContext(r.Context())
	if a.UserID == "" {
		a = actor.Anonymous(s.requestMeta(r))
	}
	return a
}

func (s *Server) requestMeta(r *http.Request) actor.Request {
	return actor.Request{IP: s.clientIP(r), UserAgent: truncate(r.UserAgent(), 512), RequestID: requestIDFrom(r.Context())}
}

// truncate makes a client-supplied string storable: at most n bytes, cut on
// a character boundary, with bytes that are not UTF-8 replaced (a header
// value may carry any byte above 0x7f, and PostgreSQL's text takes only
// UTF-8).
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (s *Server) registerRoutes() {
	s.opsRoutes()
	s.authRoutes()
	s.mfaRoutes()
	s.meRoutes()
	s.passkeyRoutes()
	s.auditRoutes()
	s.adminUserRoutes()
	s.flagRoutes()
	s.systemRoutes()
	s.orgRoutes()
	s.orgAPIKeyRoutes()
	s.gatewayRoutes()
	s.eventRoutes()
	s.creditRoutes()
	s.pluginRoutes()
	if s.Workflows != nil {
		s.workflowRoutes()
		s.scheduleRoutes()
		s.workflowSettingsRoutes()
	}
	s.openAPIRoute()
}

// since reports the time elapsed since t, for latency metrics.
func since(t time.Time) float64 { return time.Since(t).Seconds() }

// Routes lists every served operation as "METHOD /path".
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.method + " " + rt.path
	}
	return out
}
