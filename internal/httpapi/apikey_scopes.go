package httpapi

import (
	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
)

// keyScopes refuses an API key whose scopes do not cover the route. A
// route is covered through its permission (perm, else keyPerm) mapped to a
// scope; a route with neither is open only to a personal key with full
// access (*), so a new route is closed to scoped keys until it declares
// its permission.
func keyScopes(a actor.Actor, rt route) error {
	if a.APIKeyID == "" {
		return nil
	}
	p := rt.perm
	if p == "" {
		p = rt.keyPerm
	}
	if p == "" {
		if a.OrgKey {
			return apperr.New(apperr.Forbidden, "an organization's API key cannot call %s %s: it reaches only the organization's workflows, gateways, plugins, credits and audit log", rt.method, rt.path)
		}
		if a.KeyScopes.Full() {
			return nil
		}
		return apperr.New(apperr.Forbidden, "this API key lacks the scope %s: %s %s needs full access", actor.ScopeAll, rt.method, rt.path)
	}
	if a.ScopeAllows(p) {
		return nil
	}
	if sc := actor.MissingScope(p, a.OrgKey); sc != "" {
		return apperr.New(apperr.Forbidden, "this API key lacks the scope %s (for %s)", sc, p)
	}
	return apperr.New(apperr.Forbidden, "an organization's API key cannot use %s: no scope grants it", p)
}

// routeScope is the scope an API key needs for rt, for the OpenAPI
// document: the narrowest scope covering its permission, else "*" (full
// access on a personal key).
func routeScope(rt route) actor.Scope {
	p := rt.perm
	if p == "" {
		p = rt.keyPerm
	}
	if p == "" {
		return actor.ScopeAll
	}
	return actor.MissingScope(p, false)
}
