package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// envelope is the body of every API response.
type envelope struct {
	Success bool       `json:"success"`
	Data    any        `json:"data,omitempty"`
	Error   *errorBody `json:"error,omitempty"`
}

type errorBody struct {
	Code    apperr.Code `json:"code"`
	Message string      `json:"message"`
	Details any         `json:"details,omitempty"`
}

// statusOf is the one mapping from error codes to HTTP statuses.
func statusOf(c apperr.Code) int {
	switch c {
	case apperr.Validation:
		return http.StatusBadRequest
	case apperr.Unauthorized:
		return http.StatusUnauthorized
	case apperr.Forbidden, apperr.ReauthRequired, apperr.MFARequired:
		return http.StatusForbidden
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Conflict, apperr.IdempotencyConflict, apperr.PasskeysUnavailable:
		return http.StatusConflict
	case apperr.PlanLimitExceeded, apperr.InsufficientCredits:
		return http.StatusPaymentRequired
	case apperr.RateLimited:
		return http.StatusTooManyRequests
	case apperr.PayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case apperr.UnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case apperr.WorkflowFailed:
		return http.StatusUnprocessableEntity
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, data any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(envelope{Success: true, Data: data})
}

// writeError answers with the error envelope. Internal causes are logged,
// never sent.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		ae = &apperr.Error{Code: apperr.Internal, Message: "internal error", Cause: err}
	}
	if ae.Code == apperr.Internal && db.IsUnavailable(err) {
		// Any path that met an unreachable or timed-out database says so,
		// instead of a 500 that reads like a bug.
		ae = &apperr.Error{Code: apperr.Unavailable, Cause: err}
	}
	status := statusOf(ae.Code)
	body := errorBody{Code: ae.Code, Message: ae.Message, Details: ae.Details}
	if status >= 500 {
		s.Log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("requestId", requestIDFrom(r.Context())),
			slog.String("route", r.Pattern), slog.Any("error", err))
		body = errorBody{Code: apperr.Internal, Message: "internal error; quote request id " + requestIDFrom(r.Context())}
		if ae.Code == apperr.Unavailable {
			body = errorBody{Code: apperr.Unavailable, Message: "the database is unreachable; retry shortly (request id " + requestIDFrom(r.Context()) + ")"}
			w.Header().Set("Retry-After", "5")
		}
	}
	if ae.Code == apperr.RateLimited {
		if d, ok := ae.Details.(map[string]any); ok {
			if ra, ok := d["retryAfterSeconds"]; ok {
				w.Header().Set("Retry-After", toString(ra))
			}
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(envelope{Success: false, Error: &body})
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
