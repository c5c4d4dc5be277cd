package actor

import (
	"slices"
	"strings"
)

// Scope names a slice of the API an API key may reach, in the manner of
// Stripe's restricted keys. Each scope grants a fixed set of permissions
// from the permission table; a key's actor holds a permission only when
// its role grants it (as for a person) and one of the key's scopes covers
// it. A permission no scope covers is refused to every scoped key.
type Scope string

const (
	ScopeWorkflowsRead  Scope = "workflows:read"
	ScopeWorkflowsWrite Scope = "workflows:write"
	ScopeWorkflowsRun   Scope = "workflows:run"
	ScopeGatewaysRead   Scope = "gateways:read"
	ScopeGatewaysWrite  Scope = "gateways:write"
	ScopeGatewaysSend   Scope = "gateways:send"
	ScopePluginsRead    Scope = "plugins:read"
	ScopePluginsWrite   Scope = "plugins:write"
	ScopeCreditsRead    Scope = "credits:read"
	ScopeAuditRead      Scope = "audit:read"
	// ScopeReadOnly is shorthand for every :read scope; it is expanded when
	// a key is created, so a key lists the scopes it holds.
	ScopeReadOnly Scope = "read_only"
	// ScopeAll is full access. On a personal key it is everything the
	// account may do (what every key could do before scopes existed); on
	// an organization's key it is every scope above, never more.
	ScopeAll Scope = "*"
)

// scopeGrants is the one declaration of what each scope covers. A write
// scope covers its read, as Stripe's do.
var scopeGrants = []struct {
	scope Scope
	perms []Permission
}{
	{ScopeWorkflowsRead, []Permission{PermWorkflowRead}},
	{ScopeWorkflowsWrite, []Permission{PermWorkflowRead, PermWorkflowCreate, PermWorkflowUpdate, PermWorkflowDelete}},
	{ScopeWorkflowsRun, []Permission{PermWorkflowExecute}},
	{ScopeGatewaysRead, []Permission{PermGatewayRead}},
	{ScopeGatewaysWrite, []Permission{PermGatewayRead, PermGatewayCreate, PermGatewayUpdate, PermGatewayDelete}},
	{ScopeGatewaysSend, []Permission{PermGatewaySend}},
	{ScopePluginsRead, []Permission{PermPluginRead}},
	{ScopePluginsWrite, []Permission{PermPluginRead, PermPluginInstall, PermPluginConfigure}},
	{ScopeCreditsRead, []Permission{PermCreditsRead}},
	{ScopeAuditRead, []Permission{PermWorkspaceAuditRd, PermOrgAuditRead}},
}

// readScopes are what read_only stands for.
var readScopes = []Scope{ScopeWorkflowsRead, ScopeGatewaysRead, ScopePluginsRead, ScopeCreditsRead, ScopeAuditRead}

// Scopes lists every scope a key may be given, in documentation order
// (the shorthand read_only and full access * last).
func Scopes() []Scope {
	out := make([]Scope, 0, len(scopeGrants)+2)
	for _, g := range scopeGrants {
		out = append(out, g.scope)
	}
	return append(out, ScopeReadOnly, ScopeAll)
}

// ScopePermissions lists the permissions a scope covers (none for the
// shorthand read_only and for *).
func ScopePermissions(s Scope) []Permission {
	for _, g := range scopeGrants {
		if g.scope == s {
			return slices.Clone(g.perms)
		}
	}
	return nil
}

// ScopeSet is the set of scopes a key holds. Its zero value holds nothing:
// an API key's actor without scopes may do nothing.
type ScopeSet uint32

const scopeSetAll ScopeSet = 1 << 31

func bitOf(s Scope) ScopeSet {
	if s == ScopeAll {
		return scopeSetAll
	}
	for i, g := range scopeGrants {
		if g.scope == s {
			return 1 << i
		}
	}
	return 0
}

// ParseScopes reads scope names, expanding read_only. When a name is not a
// scope it answers false and that name.
func ParseScopes(names []Scope) (set ScopeSet, ok bool, bad string) {
	for _, n := range names {
		s := Scope(strings.TrimSpace(string(n)))
		if s == ScopeReadOnly {
			for _, r := range readScopes {
				set |= bitOf(r)
			}
			continue
		}
		b := bitOf(s)
		if b == 0 {
			return 0, false, string(n)
		}
		set |= b
	}
	return set, true, ""
}

// ParseStoredScopes reads scopes as Names stored them (space-separated);
// unknown names, which only a newer version could have written, are
// dropped rather than widening anything.
func ParseStoredScopes(stored string) ScopeSet {
	var set ScopeSet
	for _, n := range strings.Fields(stored) {
		set |= bitOf(Scope(n))
	}
	return set
}

// Full reports whether the set is full access (*).
func (s ScopeSet) Full() bool { return s&scopeSetAll != 0 }

// Names lists the set's scopes in documentation order: ["*"] for full
// access.
func (s ScopeSet) Names() []Scope {
	if s.Full() {
		return []Scope{ScopeAll}
	}
	out := []Scope{}
	for i, g := range scopeGrants {
		if s&(1<<i) != 0 {
			out = append(out, g.scope)
		}
	}
	return out
}

// String is the stored form: the names, space-separated.
func (s ScopeSet) String() string {
	var b strings.Builder
	for i, n := range s.Names() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(n))
	}
	return b.String()
}

// covers reports whether the set covers p. Full access covers everything
// on a personal key and every scoped permission on an organization's key.
func (s ScopeSet) covers(p Permission, orgKey bool) bool {
	if s.Full() && !orgKey {
		return true
	}
	for i, g := range scopeGrants {
		if (s.Full() || s&(1<<i) != 0) && slices.Contains(g.perms, p) {
			return true
		}
	}
	return false
}

// ScopeAllows reports whether the actor's API key scopes cover p; an actor
// that is not an API key is not limited by scopes.
func (a Actor) ScopeAllows(p Permission) bool {
	return a.APIKeyID == "" || a.KeyScopes.covers(p, a.OrgKey)
}

// MissingScope names the narrowest scope that would cover p, for the
// message refusing a key: "*" when only full access on a personal key
// would, "" when no scope can (an organization's key never holds p).
func MissingScope(p Permission, orgKey bool) Scope {
	for _, g := range scopeGrants {
		if slices.Contains(g.perms, p) {
			return g.scope
		}
	}
	if orgKey {
		return ""
	}
	return ScopeAll
}

// CanGrant reports whether the actor (a person creating a key) may give a
// key the scopes in set: every permission they cover must be one the actor
// holds in the workspace the key will act in. For a personal key (the actor
// in its personal workspace) organization permissions are skipped, since
// such a key never acts in an organization by them. It answers the first
// scope the actor cannot give.
func (a Actor) CanGrant(set ScopeSet, orgKey bool) (Scope, bool) {
	if set.Full() && !orgKey {
		return "", true
	}
	for i, g := range scopeGrants {
		if !set.Full() && set&(1<<i) == 0 {
			continue
		}
		for _, p := range g.perms {
			if !orgKey && table[p].scope == scopeOrg {
				continue
			}
			if !a.Can(p) {
				return g.scope, false
			}
		}
	}
	return "", true
}
