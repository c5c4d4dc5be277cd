package actor

// Role is a platform role: the seed's UserRole (§1.1).
type Role string

const (
	SuperAdmin Role = "SUPER_ADMIN"
	Admin      Role = "ADMIN"
	Developer  Role = "DEVELOPER"
	Support    Role = "SUPPORT"
	Member     Role = "MEMBER"
)

// User is the name MEMBER had before the seed's roles were adopted.
//
// Deprecated: use Member. It is kept only so code written against the old
// name keeps compiling while branches merge; its value is MEMBER.
const User = Member

// Roles lists every platform role in the seed's order, most powerful first.
// Rights are cumulative along it, with one exception: DEVELOPER and SUPPORT
// are siblings above MEMBER, each with its own extra rights (a marketplace
// developer does not read other people's accounts); ADMIN holds both.
var Roles = []Role{SuperAdmin, Admin, Developer, Support, Member}

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
