package actor

// Role is a platform role. Its power grows from USER to SUPER_ADMIN.
type Role string

const (
	SuperAdmin Role = "SUPER_ADMIN"
	Admin      Role = "ADMIN"
	Moderator  Role = "MODERATOR"
	Developer  Role = "DEVELOPER"
	User       Role = "USER"
)

// Roles lists every platform role, most powerful first.
var Roles = []Role{SuperAdmin, Admin, Moderator, Developer, User}

// Valid reports whether r is a known platform role.
func (r Role) Valid() bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// OrgRole is a role inside one organization; it counts only when the actor
// acts in that organization.
type OrgRole string

const (
	OrgOwner    OrgRole = "ORG_OWNER"
	OrgAdmin    OrgRole = "ORG_ADMIN"
	DeptManager OrgRole = "DEPT_MANAGER"
	OrgMember   OrgRole = "ORG_MEMBER"
)

// OrgRoles lists every organization role, most powerful first.
var OrgRoles = []OrgRole{OrgOwner, OrgAdmin, DeptManager, OrgMember}

// Valid reports whether r is a known organization role.
func (r OrgRole) Valid() bool {
	for _, v := range OrgRoles {
		if r == v {
			return true
		}
	}
	return false
}
