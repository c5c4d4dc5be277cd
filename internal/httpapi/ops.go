package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"
)

type healthResponse struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

// ErrDraining is what a Ready function returns once the node has begun
// to shut down: /readyz then fails so load balancers stop sending to it.
var ErrDraining = errors.New("draining")

func (s *Server) opsRoutes() {
	s.handle(route{method: "GET", path: "/healthz", doc: routeDoc{noDatabase: true}, tag: "operations",
		summary: "Liveness: the process serves HTTP.", response: healthResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			writeJSON(w, http.StatusOK, healthResponse{Status: "ok", Version: s.opt.Version})
			return nil
		}})
	s.handle(route{method: "GET", path: "/readyz", tag: "operations",
		summary: "Readiness: the database answers.", response: healthResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if s.Ready != nil {
				ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
				defer cancel()
				if err := s.Ready(ctx); err != nil {
					msg := "database unreachable"
					if errors.Is(err, ErrDraining) {
						msg = "draining: the node is shutting down"
					} else {
						s.Log.Warn("not ready", "error", err)
					}
					w.Header().Set("Content-Type", "application/json; charset=utf-8")
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = w.Write([]byte(`{"success":false,"error":{"code":"UNAVAILABLE","message":"` + msg + `"}}`))
					return nil
				}
			}
			writeJSON(w, http.StatusOK, healthResponse{Status: "ready", Version: s.opt.Version})
			return nil
		}})
	if !s.opt.SeparateMetrics {
		s.handle(route{method: "GET", path: "/metrics", doc: routeDoc{noDatabase: true, produces: []string{"text/plain"}}, tag: "operations",
			summary: "Prometheus metrics (text exposition format).",
			handler: func(w http.ResponseWriter, r *http.Request) error {
				s.metrics.handler().ServeHTTP(w, r)
				return nil
			}})
	}
	// Unknown paths and wrong methods under the API and the hooks answer
	// with the envelope, not ServeMux's text 404 and 405.
	s.mux.HandleFunc("/api/", s.unmatched)
	s.mux.HandleFunc("/hooks/", s.unmatched)
}

// MetricsHandler serves GET /metrics alone, for a listener of its own
// (Options.SeparateMetrics): scrapers reach it on an internal address while
// the main listener faces the public.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.handler())
	return mux
}
