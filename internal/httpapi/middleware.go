package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/telemetry"
)

type requestIDKey struct{}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestID honours a sane X-Request-Id from the client or makes one, and
// echoes it on the response so a user can quote it.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = "req_" + hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		ok := c == '-' || c == '_' || c == '.' || c == ':' ||
			(c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

// recoverer turns a panic into a logged 500 envelope instead of a dropped
// connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log().Error("panic serving request", "requestId", requestIDFrom(r.Context()),
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				s.writeError(w, r, fmt.Errorf("panic: %v", p))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (sr *statusRecorder) WriteHeader(code int) {
	if sr.status == 0 {
		sr.status = code
	}
	sr.ResponseWriter.WriteHeader(code)
}

func (sr *statusRecorder) Write(b []byte) (int, error) {
	if sr.status == 0 {
		sr.status = http.StatusOK
	}
	return sr.ResponseWriter.Write(b)
}

func (sr *statusRecorder) Unwrap() http.ResponseWriter { return sr.ResponseWriter }

// observe records metrics and an access log line for every request.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sr := &statusRecorder{ResponseWriter: w}
		// A caller's traceparent makes the request part of its trace.
		ctx, span := s.Metrics.Start(telemetry.ExtractHTTP(r.Context(), r.Header), "HTTP "+r.Method, trace.SpanKindServer,
			attribute.String("http.request.method", r.Method))
		defer span.End()
		r = r.WithContext(ctx)
		next.ServeHTTP(sr, r)
		if sr.status == 0 {
			sr.status = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		span.SetName(route)
		span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", sr.status))
		if sr.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sr.status))
		}
		s.metrics.observe(route, sr.status, since(start))
		level := slog.LevelDebug
		if sr.status >= 500 {
			level = slog.LevelError
		} else if sr.status >= 400 {
			level = slog.LevelInfo
		}
		s.log().LogAttrs(r.Context(), level, "request",
			slog.String("requestId", requestIDFrom(r.Context())),
			slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", sr.status), slog.Duration("duration", time.Since(start)),
			slog.String("ip", s.clientIP(r)))
	})
}

// securityHeaders sets headers that make API responses inert in a browser.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// bodyLimit caps every request body at the largest any route takes; each
// route then applies its own, smaller cap (see handle). decode turns the
// overflow into 413.
func (s *Server) bodyLimit(next http.Handler) http.Handler {
	outer := max(s.opt.MaxBodyBytes, s.opt.MaxUploadBytes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > outer {
			s.writeError(w, r, apperr.New(apperr.PayloadTooLarge, "request body exceeds %d bytes", outer))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, outer)
		next.ServeHTTP(w, r)
	})
}

// clientIP is the peer address or, when the operator said a trusted proxy
// sits in front, the address that proxy saw: the last one in
// X-Forwarded-For. A proxy appends the address it was called from to
// whatever the client sent, so every entry before the last is the
// client's own say; taking the first let anyone pick a new address per
// request, past the per-address rate limits and into the audit log.
func (s *Server) clientIP(r *http.Request) string {
	if s.opt.TrustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			hops := strings.Split(xff[len(xff)-1], ",")
			if last := strings.TrimSpace(hops[len(hops)-1]); net.ParseIP(last) != nil {
				return last
			}
		}
		if xr := strings.TrimSpace(r.Header.Get("X-Real-Ip")); net.ParseIP(xr) != nil {
			return xr
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) log() *slog.Logger { return s.Log }

// rateLimit applies the per-IP limit of a route group.
func (s *Server) rateLimit(r *http.Request, group string) error {
	if s.Limiter == nil {
		return nil
	}
	res, err := s.Limiter.Allow(r.Context(), group+":"+s.clientIP(r), s.opt.AuthRateLimit, time.Minute)
	if err != nil {
		return apperr.Wrap(err, "rate limit")
	}
	if !res.Allowed {
		secs := int(res.RetryAfter.Seconds() + 0.999)
		if secs < 1 {
			secs = 1
		}
		return apperr.New(apperr.RateLimited, "too many requests from this address; retry in %d seconds", secs).
			WithDetails(map[string]any{"retryAfterSeconds": secs})
	}
	return nil
}

func errForbidden(p actor.Permission) error {
	return apperr.New(apperr.Forbidden, "you lack the permission %s", p)
}
