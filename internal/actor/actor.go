// Package actor describes who is acting, for whom and from where. Every
// service method takes an Actor explicitly; a method without one cannot act
// for anyone.
package actor

import "context"

// Actor is the caller of a service method: a signed-in user (through a
// session or an API key), an anonymous visitor of a public endpoint, or the
// system acting for a workspace in a background job.
type Actor struct {
	UserID string
	Email  string
	Role   Role
	// Plan is the plan of the workspace the actor acts in: the user's own in
	// the personal workspace, the organization's in an organization.
	Plan Plan

	// OrganizationID is empty in the personal workspace.
	OrganizationID string
	OrgRole        OrgRole
	DepartmentID   string

	SessionID string
	APIKeyID  string
	// KeyScopes bound what an API key's actor may do (see Can); they mean
	// nothing when APIKeyID is empty.
	KeyScopes ScopeSet
	// OrgKey marks an organization's own API key: the actor is the key
	// (UserID is the key's id), acting in its organization and nowhere else.
	OrgKey bool
	// ImpersonatorID is the SUPER_ADMIN acting as this user, if any; it is
	// written to every audit row the actor causes.
	ImpersonatorID string

	// Reauthenticated: the session proved its user (sign-in, password or
	// second factor) within the last ReauthWindow. API keys and
	// impersonation sessions never are.
	Reauthenticated bool
	// HasSecondFactor: the account has a confirmed second factor.
	HasSecondFactor bool
	// MFARequired: the actor acts in an organization that requires a
	// second factor the account lacks; only enrollment is open to it.
	MFARequired bool

	IP        string
	UserAgent string
	RequestID string

	// System marks a background worker acting for a workspace.
	System bool
}

// Authenticated reports whether the actor is a signed-in user or the system.
func (a Actor) Authenticated() bool { return a.UserID != "" || a.System }

// WorkspaceID is the owner of everything the actor creates: the organization
// in an organization context, else the user's personal workspace.
func (a Actor) WorkspaceID() string {
	if a.OrganizationID != "" {
		return a.OrganizationID
	}
	return a.UserID
}

// Request carries the metadata of one request, for actors that are not (yet)
// signed in: sign-up, login, password reset.
type Request struct {
	IP        string
	UserAgent string
	RequestID string
}

// Anonymous returns an unauthenticated actor with request metadata.
func Anonymous(r Request) Actor {
	return Actor{IP: r.IP, UserAgent: r.UserAgent, RequestID: r.RequestID}
}

// Request returns the request metadata of the actor.
func (a Actor) Request() Request {
	return Request{IP: a.IP, UserAgent: a.UserAgent, RequestID: a.RequestID}
}

type ctxKey struct{}

// NewContext stores a in ctx. Only transport code (middleware) does this;
// services receive the actor as a parameter.
func NewContext(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, ctxKey{}, a)
}

// FromContext returns the actor stored by NewContext, or the zero Actor.
func FromContext(ctx context.Context) Actor {
	a, _ := ctx.Value(ctxKey{}).(Actor)
	return a
}

// InOrg returns the actor acting in an organization with the given role,
// for checks on an organization other than the current context (managing
// an organization from the personal workspace, say).
func (a Actor) InOrg(orgID string, role OrgRole, departmentID string, plan Plan) Actor {
	a.OrganizationID, a.OrgRole, a.DepartmentID, a.Plan = orgID, role, departmentID, plan
	return a
}
