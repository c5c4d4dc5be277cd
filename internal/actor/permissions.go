package actor

// Permission names one thing an actor may do.
type Permission string

// Platform permissions are granted by the platform role alone.
const (
	PermUsersRead        Permission = "users:read"
	PermUsersManage      Permission = "users:manage"
	PermUsersDelete      Permission = "users:delete"
	PermUsersImpersonate Permission = "users:impersonate"
	PermAuditReadAll     Permission = "audit:read:all"
	PermFlagsManage      Permission = "flags:manage"
	PermMarketSubmit     Permission = "marketplace:submit"
	PermMarketReview     Permission = "marketplace:review"
	PermMarketFeature    Permission = "marketplace:feature"
	PermCreditsGrant     Permission = "credits:grant"
	PermSystemRead       Permission = "system:read"
)

// Workspace permissions act on resources a workspace owns. In the personal
// workspace the platform role decides; in an organization the org role does
// (and the platform role must allow it too).
const (
	PermGatewayCreate    Permission = "gateway:create"
	PermGatewayRead      Permission = "gateway:read"
	PermGatewayUpdate    Permission = "gateway:update"
	PermGatewayDelete    Permission = "gateway:delete"
	PermPluginInstall    Permission = "plugin:install"
	PermPluginConfigure  Permission = "plugin:configure"
	PermWorkflowCreate   Permission = "workflow:create"
	PermWorkflowRead     Permission = "workflow:read"
	PermWorkflowUpdate   Permission = "workflow:update"
	PermWorkflowDelete   Permission = "workflow:delete"
	PermWorkflowExecute  Permission = "workflow:execute"
	PermCreditsRead      Permission = "credits:read"
	PermWorkspaceAuditRd Permission = "workspace:audit:read"
	// PermGatewaySend sends a message through a gateway; it is granted as
	// gateway:update is, and kept apart so an API key may send without
	// being able to change the gateway (the gateways:send scope).
	PermGatewaySend Permission = "gateway:send"
	// PermPluginRead reads the catalog and the workspace's installations
	// and their executions (the plugins:read scope).
	PermPluginRead Permission = "plugin:read"
)

// PermEventsManage creates, reads and changes a workspace's event
// subscriptions (signed events out) and their delivery log.
const PermEventsManage Permission = "events:manage"

// PermCreditsManage changes a workspace's credit settings and buys credits
// and plans for it.
const PermCreditsManage Permission = "credits:manage"

// Organization permissions exist only in an organization context and are
// granted by the org role in that organization, never by the platform role.
const (
	PermOrgRead          Permission = "org:read"
	PermOrgManage        Permission = "org:manage"
	PermOrgDelete        Permission = "org:delete"
	PermOrgMembersInvite Permission = "org:members:invite"
	PermOrgMembersManage Permission = "org:members:manage"
	PermOrgDeptManage    Permission = "org:departments:manage"
	PermOrgDeptMembers   Permission = "org:departments:members"
	PermOrgBilling       Permission = "org:billing"
	PermOrgAuditRead     Permission = "org:audit:read"
	// PermOrgAPIKeys creates, lists and revokes the organization's own API
	// keys.
	PermOrgAPIKeys Permission = "org:apikeys:manage"
)

type scope int

const (
	scopePlatform scope = iota
	scopeWorkspace
	scopeOrg
)

type grant struct {
	scope    scope
	platform []Role
	org      []OrgRole
}

var (
	admins   = []Role{SuperAdmin, Admin}
	everyone = []Role{SuperAdmin, Admin, Developer, Support, Member}
	// readers may look at accounts, their sessions and the platform audit
	// log: the seed's admin:users:read is ADMIN+, and SUPPORT is added
	// because customer support cannot help anyone without reading the
	// account (docs/api.md, "Roles and permissions").
	readers    = []Role{SuperAdmin, Admin, Support}
	orgAll     = []OrgRole{OrgOwner, OrgAdmin, DeptManager, OrgMember}
	orgEditors = []OrgRole{OrgOwner, OrgAdmin, DeptManager}
	orgAdmins  = []OrgRole{OrgOwner, OrgAdmin}
)

// table is the one declaration of who may do what. Anything absent is denied.
var table = map[Permission]grant{
	PermUsersRead:        {scope: scopePlatform, platform: readers},
	PermUsersManage:      {scope: scopePlatform, platform: admins},
	PermUsersDelete:      {scope: scopePlatform, platform: []Role{SuperAdmin}},
	PermUsersImpersonate: {scope: scopePlatform, platform: []Role{SuperAdmin}},
	PermAuditReadAll:     {scope: scopePlatform, platform: readers},
	PermFlagsManage:      {scope: scopePlatform, platform: admins},
	PermMarketSubmit:     {scope: scopePlatform, platform: []Role{SuperAdmin, Admin, Developer}},
	PermMarketReview:     {scope: scopePlatform, platform: admins},
	PermMarketFeature:    {scope: scopePlatform, platform: admins},
	PermCreditsGrant:     {scope: scopePlatform, platform: admins},
	PermSystemRead:       {scope: scopePlatform, platform: readers},

	PermGatewayCreate:    {scope: scopeWorkspace, platform: everyone, org: orgEditors},
	PermGatewayRead:      {scope: scopeWorkspace, platform: everyone, org: orgAll},
	PermGatewayUpdate:    {scope: scopeWorkspace, platform: everyone, org: orgEditors},
	PermGatewayDelete:    {scope: scopeWorkspace, platform: everyone, org: orgAdmins},
	PermPluginInstall:    {scope: scopeWorkspace, platform: everyone, org: orgAdmins},
	PermPluginConfigure:  {scope: scopeWorkspace, platform: everyone, org: orgEditors},
	PermWorkflowCreate:   {scope: scopeWorkspace, platform: everyone, org: orgEditors},
	PermWorkflowRead:     {scope: scopeWorkspace, platform: everyone, org: orgAll},
	PermWorkflowUpdate:   {scope: scopeWorkspace, platform: everyone, org: orgEditors},
	PermWorkflowDelete:   {scope: scopeWorkspace, platform: everyone, org: orgAdmins},
	PermWorkflowExecute:  {scope: scopeWorkspace, platform: everyone, org: orgAll},
	PermEventsManage:     {scope: scopeWorkspace, platform: everyone, org: orgAdmins},
	PermCreditsRead:      {scope: scopeWorkspace, platform: everyone, org: orgAll},
	PermWorkspaceAuditRd: {scope: scopeWorkspace, platform: everyone, org: orgAdmins},
	PermGatewaySend:      {scope: scopeWorkspace, platform: everyone, org: orgEditors},
	PermPluginRead:       {scope: scopeWorkspace, platform: everyone, org: orgAll},

	PermOrgRead:          {scope: scopeOrg, org: orgAll},
	PermOrgManage:        {scope: scopeOrg, org: orgAdmins},
	PermOrgDelete:        {scope: scopeOrg, org: []OrgRole{OrgOwner}},
	PermOrgMembersInvite: {scope: scopeOrg, org: orgAdmins},
	PermOrgMembersManage: {scope: scopeOrg, org: orgAdmins},
	PermOrgDeptManage:    {scope: scopeOrg, org: orgAdmins},
	PermOrgDeptMembers:   {scope: scopeOrg, org: orgEditors},
	PermOrgBilling:       {scope: scopeOrg, org: []OrgRole{OrgOwner}},
	PermOrgAuditRead:     {scope: scopeOrg, org: orgAdmins},
	PermOrgAPIKeys:       {scope: scopeOrg, org: orgAdmins},

	// Changing a workspace's credit settings or buying credits and plans:
	// the owner of a personal workspace; in an organization its ORG_OWNER
	// (the holder of org:billing). Every member can read (credits:read).
	PermCreditsManage: {scope: scopeWorkspace, platform: everyone, org: []OrgRole{OrgOwner}},
}

// Can reports whether the actor holds permission p in the workspace it acts
// in. Unknown permissions and anonymous actors are denied. SUPER_ADMIN holds
// every platform right an ADMIN holds (the table lists both), but org rights
// come only from membership: a platform admin is not an org owner. An API
// key's actor also needs a scope covering p (scopes.go).
func (a Actor) Can(p Permission) bool {
	if a.UserID == "" || !a.ScopeAllows(p) {
		return false
	}
	g, ok := table[p]
	if !ok {
		return false
	}
	switch g.scope {
	case scopePlatform:
		return hasRole(g.platform, a.Role)
	case scopeWorkspace:
		if !hasRole(g.platform, a.Role) {
			return false
		}
		if a.OrganizationID == "" {
			return true
		}
		return hasOrgRole(g.org, a.OrgRole)
	case scopeOrg:
		return a.OrganizationID != "" && hasOrgRole(g.org, a.OrgRole)
	}
	return false
}

// Permissions lists every permission in the table, for documentation and
// exhaustive tests.
func Permissions() []Permission {
	out := make([]Permission, 0, len(table))
	for p := range table {
		out = append(out, p)
	}
	return out
}

func hasRole(rs []Role, r Role) bool {
	for _, v := range rs {
		if v == r {
			return true
		}
	}
	return false
}

func hasOrgRole(rs []OrgRole, r OrgRole) bool {
	for _, v := range rs {
		if v == r {
			return true
		}
	}
	return false
}
