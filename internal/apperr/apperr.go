// Package apperr defines the error type every domain package returns to its
// callers. An Error carries a stable machine code, a message that is safe to
// show a client, optional details, and the internal cause (never shown).
// httpapi maps codes to HTTP statuses in exactly one place.
package apperr

import (
	"errors"
	"fmt"
)

// Code is a stable, documented error code of the API envelope.
type Code string

const (
	Validation          Code = "VALIDATION_ERROR"
	Unauthorized        Code = "UNAUTHORIZED"
	Forbidden           Code = "FORBIDDEN"
	NotFound            Code = "NOT_FOUND"
	Conflict            Code = "CONFLICT"
	PlanLimitExceeded   Code = "PLAN_LIMIT_EXCEEDED"
	InsufficientCredits Code = "INSUFFICIENT_CREDITS"
	RateLimited         Code = "RATE_LIMITED"
	PayloadTooLarge     Code = "PAYLOAD_TOO_LARGE"
	// IdempotencyConflict answers a reused Idempotency-Key whose request
	// differs from the first one, or whose first request is still running.
	IdempotencyConflict Code = "IDEMPOTENCY_CONFLICT"
	// WorkflowFailed answers a synchronous webhook whose run failed.
	WorkflowFailed Code = "WORKFLOW_FAILED"
	Internal       Code = "INTERNAL"
)

// Unavailable says the database could not be reached or did not answer in
// time; the request may be retried once it is back.
const Unavailable Code = "UNAVAILABLE"

// PasskeysUnavailable answers the passkey routes of a server whose relying
// party id is an IP address, which browsers refuse.
const PasskeysUnavailable Code = "PASSKEYS_UNAVAILABLE"

// ReauthRequired answers a sensitive action (a factor or password change,
// account or organization deletion, API key creation, admin role changes
// …) by a session that has not re-authenticated in the last five minutes:
// POST /api/v1/auth/reauth, then retry. MFARequired answers a member of an
// organization that requires a second factor the member has not enrolled.
const (
	ReauthRequired Code = "REAUTH_REQUIRED"
	MFARequired    Code = "MFA_REQUIRED"
)

// MethodNotAllowed answers a known path asked with a method it does not
// serve; UnsupportedMediaType a JSON route sent a body that is not JSON.
const (
	MethodNotAllowed     Code = "METHOD_NOT_ALLOWED"
	UnsupportedMediaType Code = "UNSUPPORTED_MEDIA_TYPE"
)

// Error is a domain error with a code a client can branch on.
type Error struct {
	Code    Code
	Message string
	// Details is shown to the client; keep it free of secrets.
	Details any
	// Cause is for logs only.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns a copy of e carrying details.
func (e *Error) WithDetails(d any) *Error {
	c := *e
	c.Details = d
	return &c
}

// FieldError names one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Invalid returns a VALIDATION_ERROR naming the offending fields.
func Invalid(fields ...FieldError) *Error {
	msg := "invalid input"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	} else if len(fields) > 1 {
		msg = fmt.Sprintf("%d fields are invalid", len(fields))
	}
	return &Error{Code: Validation, Message: msg, Details: map[string]any{"fields": fields}}
}

// Wrap turns any error into an INTERNAL Error unless it already is an *Error.
func Wrap(err error, msg string) error {
	if err == nil {
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return err
	}
	return &Error{Code: Internal, Message: "internal error", Cause: fmt.Errorf("%s: %w", msg, err)}
}

// CodeOf returns the code of err, or Internal if it carries none.
func CodeOf(err error) Code {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return Internal
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }
