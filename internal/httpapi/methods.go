package httpapi

import (
	"net/http"
	"strings"

	"github.com/switchboard/switchboard/internal/apperr"
)

// probeMethods are the methods a route may be declared with.
var probeMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// unmatched answers a request no route took: 405 with Allow when the path is
// served under other methods, else 404, both with the error envelope. The
// catch-all patterns it is registered under are less specific than every
// route, so ServeMux only lands here when nothing else matched.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range probeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/api/" && pattern != "/hooks/" {
			allow = append(allow, m)
			if m == "GET" {
				allow = append(allow, "HEAD")
			}
		}
	}
	if len(allow) == 0 {
		s.writeError(w, r, apperr.New(apperr.NotFound, "no route %s %s", r.Method, r.URL.Path))
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	s.writeError(w, r, apperr.New(apperr.MethodNotAllowed, "%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
}
