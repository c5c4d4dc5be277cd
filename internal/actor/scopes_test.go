package actor

import (
	"slices"
	"testing"
)

func TestScopes_EveryScopedPermissionIsInTheTable(t *testing.T) {
	for _, g := range scopeGrants {
		for _, p := range g.perms {
			if _, ok := table[p]; !ok {
				t.Errorf("scope %s covers %s, which the permission table lacks", g.scope, p)
			}
		}
	}
}

func TestScopes_KeyActorNeedsAScope(t *testing.T) {
	person := Actor{UserID: "usr_1", Role: Member}
	set, ok, _ := ParseScopes([]Scope{"workflows:write", "gateways:send"})
	if !ok {
		t.Fatal("parse")
	}
	key := person
	key.APIKeyID, key.KeyScopes = "key_1", set
	for p, want := range map[Permission]bool{
		PermWorkflowRead: true, PermWorkflowDelete: true, PermGatewaySend: true,
		PermWorkflowExecute: false, PermGatewayUpdate: false, PermGatewayRead: false, PermCreditsRead: false,
	} {
		if got := key.Can(p); got != want {
			t.Errorf("key with %v: Can(%s) = %v, want %v", set.Names(), p, got, want)
		}
		if !person.Can(p) {
			t.Errorf("scopes limited a person: %s", p)
		}
	}
	// A key without scopes may do nothing, deny by default.
	key.KeyScopes = 0
	if key.Can(PermWorkflowRead) {
		t.Error("a key without scopes holds workflow:read")
	}
	// Full access on a personal key is the owner's rights; on an
	// organization's key, only what a scope covers.
	key.KeyScopes = ParseStoredScopes("*")
	admin := key
	admin.Role = Admin
	if !admin.Can(PermUsersRead) {
		t.Error("a full-access personal key lost its owner's rights")
	}
	org := key.InOrg("org_1", OrgAdmin, "", Free)
	org.OrgKey = true
	if org.Can(PermOrgMembersManage) || org.Can(PermOrgAPIKeys) || !org.Can(PermWorkflowCreate) || !org.Can(PermOrgAuditRead) {
		t.Error("an organization's full-access key reaches beyond its scopes")
	}
}

func TestScopes_OnlyWhatTheCreatorHolds(t *testing.T) {
	member := Actor{UserID: "usr_1", Role: Member}.InOrg("org_1", OrgMember, "", Free)
	set, _, _ := ParseScopes([]Scope{"workflows:read", "workflows:write"})
	if sc, ok := member.CanGrant(set, true); ok || sc != ScopeWorkflowsWrite {
		t.Errorf("ORG_MEMBER may grant %v: %v %s", set.Names(), ok, sc)
	}
	admin := member.InOrg("org_1", OrgAdmin, "", Free)
	if _, ok := admin.CanGrant(ParseStoredScopes("*"), true); !ok {
		t.Error("ORG_ADMIN may not grant full access on the organization's key")
	}
	ro, _, _ := ParseScopes([]Scope{"read_only"})
	if !slices.Equal(ro.Names(), []Scope{"workflows:read", "gateways:read", "plugins:read", "credits:read", "audit:read"}) {
		t.Errorf("read_only: %v", ro.Names())
	}
	if _, ok, bad := ParseScopes([]Scope{"workflows:read", "root"}); ok || bad != "root" {
		t.Errorf("unknown scope accepted")
	}
	if ParseStoredScopes(ro.String()) != ro {
		t.Error("stored form does not round-trip")
	}
}
