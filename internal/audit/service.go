package audit

import (
	"context"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// Service answers audit queries with permission checks.
type Service struct {
	db *db.DB
	// keys, when set, are the checkpoint keys Verify checks signatures with.
	keys *KeySource
}

// NewService returns a Service reading from d.
func NewService(d *db.DB) *Service { return &Service{db: d} }

// SetSigningKeys makes Verify check checkpoint signatures with the keys of
// ks (re-read on every verification, so a rotation is seen).
func (s *Service) SetSigningKeys(ks KeySource) { s.keys = &ks }

// ListOwn lists the events recorded under the actor's account: what they
// did, failed sign-ins to their account, and what an impersonating admin
// did as them (the row names the impersonator).
func (s *Service) ListOwn(ctx context.Context, a actor.Actor, f Filter) (Page, error) {
	if !a.Authenticated() || a.UserID == "" {
		return Page{}, apperr.New(apperr.Unauthorized, "sign in to read your audit log")
	}
	f.UserID, f.OrganizationID = a.UserID, ""
	return List(ctx, s.db.Read(), f)
}

// ListAll lists every event (audit:read:all).
func (s *Service) ListAll(ctx context.Context, a actor.Actor, f Filter) (Page, error) {
	if !a.Can(actor.PermAuditReadAll) {
		return Page{}, apperr.New(apperr.Forbidden, "you lack the permission %s", actor.PermAuditReadAll)
	}
	return List(ctx, s.db.Read(), f)
}

// Verify checks the chain (audit:read:all).
func (s *Service) Verify(ctx context.Context, a actor.Actor) (VerifyResult, error) {
	if !a.Can(actor.PermAuditReadAll) {
		return VerifyResult{}, apperr.New(apperr.Forbidden, "you lack the permission %s", actor.PermAuditReadAll)
	}
	var keys *SigningKeys
	if s.keys != nil {
		k, err := s.keys.Load()
		if err != nil {
			return VerifyResult{}, err
		}
		keys = k
	}
	return Verify(ctx, s.db.Read(), keys)
}

// VerifyOwn checks the rows recorded under the actor's account (see
// VerifyScope for what that proves).
func (s *Service) VerifyOwn(ctx context.Context, a actor.Actor) (VerifyResult, error) {
	if !a.Authenticated() || a.UserID == "" {
		return VerifyResult{}, apperr.New(apperr.Unauthorized, "sign in to verify your audit log")
	}
	return VerifyScope(ctx, s.db.Read(), Scope{UserID: a.UserID})
}

// AdminRequest describes one request to an admin endpoint.
type AdminRequest struct {
	Method string
	// Path is the path as requested (escaped); Route is the route pattern
	// it matched, empty when it matched none.
	Path     string
	Route    string
	Query    map[string][]string
	Status   int
	Duration time.Duration
}

// RecordAdminRequest writes an "admin.request" row for a request to the admin
// API, whoever made it and however it ended (status "failure" for any 4xx
// or 5xx answer: refused, invalid, unknown route). Query values under
// secret-looking names are redacted like any metadata.
func (s *Service) RecordAdminRequest(ctx context.Context, a actor.Actor, r AdminRequest) error {
	q := make(map[string]any, len(r.Query))
	for k, v := range r.Query {
		vals := make([]any, len(v))
		for i, s := range v {
			vals[i] = s
		}
		q[k] = vals
	}
	status := Success
	if r.Status >= 400 {
		status = Failure
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		return Record(ctx, tx, a, Entry{Action: "admin.request", Resource: "http", ResourceID: r.Method + " " + r.Path, Platform: true,
			Status: status, Metadata: map[string]any{"method": r.Method, "path": r.Path, "route": r.Route, "query": q,
				"status": r.Status, "durationMs": float64(r.Duration.Microseconds()) / 1000}})
	})
}
