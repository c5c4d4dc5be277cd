package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard/switchboard/internal/apperr"
)

// queryInt reads an optional integer query parameter within [min, max].
func queryInt(r *http.Request, name string, min, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, apperr.Invalid(apperr.FieldError{Field: name, Message: "must be a whole number from " + strconv.Itoa(min) + " to " + strconv.Itoa(max)})
	}
	return n, nil
}

// queryTime reads an optional RFC 3339 time query parameter.
func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, apperr.Invalid(apperr.FieldError{Field: name, Message: "must be an RFC 3339 time such as 2026-01-02T15:04:05Z"})
	}
	return t, nil
}

// queryBool reads an optional boolean query parameter.
func queryBool(r *http.Request, name string) (*bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, apperr.Invalid(apperr.FieldError{Field: name, Message: "must be true or false"})
	}
	return &b, nil
}

var pageParams = []param{
	{"cursor", "Opaque cursor from the previous page's nextCursor."},
	{"limit", "Page size, 1–200 (default 50)."},
}
