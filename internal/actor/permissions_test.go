package actor

import "testing"

func TestCan_DeniesAnonymousAndUnknownPermissions(t *testing.T) {
	t.Parallel()
	if (Actor{Role: SuperAdmin}).Can(PermUsersRead) {
		t.Error("an actor without a user id was granted a permission")
	}
	if (Actor{UserID: "usr_1", Role: SuperAdmin}).Can("made:up") {
		t.Error("an unknown permission was granted")
	}
}

func TestCan_SuperAdminHoldsEveryAdminRight(t *testing.T) {
	t.Parallel()
	admin := Actor{UserID: "usr_a", Role: Admin}
	super := Actor{UserID: "usr_s", Role: SuperAdmin}
	for _, p := range Permissions() {
		if admin.Can(p) && !super.Can(p) {
			t.Errorf("ADMIN holds %s but SUPER_ADMIN does not", p)
		}
	}
}

func TestCan_PlatformPermissionsByRole(t *testing.T) {
	t.Parallel()
	cases := []struct {
		perm Permission
		want map[Role]bool
	}{
		{PermUsersRead, map[Role]bool{SuperAdmin: true, Admin: true, Support: true}},
		{PermUsersManage, map[Role]bool{SuperAdmin: true, Admin: true}},
		{PermUsersDelete, map[Role]bool{SuperAdmin: true}},
		{PermUsersImpersonate, map[Role]bool{SuperAdmin: true}},
		{PermAuditReadAll, map[Role]bool{SuperAdmin: true, Admin: true, Support: true}},
		{PermFlagsManage, map[Role]bool{SuperAdmin: true, Admin: true}},
		{PermMarketSubmit, map[Role]bool{SuperAdmin: true, Admin: true, Developer: true}},
		{PermMarketReview, map[Role]bool{SuperAdmin: true, Admin: true}},
		{PermMarketFeature, map[Role]bool{SuperAdmin: true, Admin: true}},
		{PermCreditsGrant, map[Role]bool{SuperAdmin: true, Admin: true}},
		{PermSystemRead, map[Role]bool{SuperAdmin: true, Admin: true, Support: true}},
	}
	for _, c := range cases {
		for _, r := range Roles {
			got := Actor{UserID: "usr_1", Role: r}.Can(c.perm)
			if got != c.want[r] {
				t.Errorf("%s with role %s: got %v, want %v", c.perm, r, got, c.want[r])
			}
			// An org context never changes a platform permission.
			inOrg := Actor{UserID: "usr_1", Role: r, OrganizationID: "org_1", OrgRole: OrgOwner}.Can(c.perm)
			if inOrg != c.want[r] {
				t.Errorf("%s with role %s in an org: got %v, want %v", c.perm, r, inOrg, c.want[r])
			}
		}
	}
}

func TestCan_OrgPermissionsCountOnlyInThatOrgContext(t *testing.T) {
	t.Parallel()
	want := map[Permission]map[OrgRole]bool{
		PermOrgManage:        {OrgOwner: true, OrgAdmin: true},
		PermOrgMembersInvite: {OrgOwner: true, OrgAdmin: true},
		PermOrgBilling:       {OrgOwner: true},
		PermOrgDeptMembers:   {OrgOwner: true, OrgAdmin: true, DeptManager: true},
	}
	for perm, byRole := range want {
		for _, or := range OrgRoles {
			a := Actor{UserID: "usr_1", Role: Member, OrganizationID: "org_1", OrgRole: or}
			if got := a.Can(perm); got != byRole[or] {
				t.Errorf("%s as %s: got %v, want %v", perm, or, got, byRole[or])
			}
			// The same org role outside an org context grants nothing, and
			// no platform role stands in for it.
			personal := Actor{UserID: "usr_1", Role: SuperAdmin, OrgRole: or}
			if personal.Can(perm) {
				t.Errorf("%s granted outside an organization context (org role %s)", perm, or)
			}
		}
	}
}

func TestCan_WorkspacePermissionsFollowOrgRoleInOrgs(t *testing.T) {
	t.Parallel()
	personal := Actor{UserID: "usr_1", Role: User}
	if !personal.Can(PermGatewayDelete) {
		t.Error("a user cannot delete gateways in their own workspace")
	}
	member := Actor{UserID: "usr_1", Role: Member, OrganizationID: "org_1", OrgRole: OrgMember}
	if !member.Can(PermGatewayRead) || member.Can(PermGatewayCreate) || member.Can(PermGatewayDelete) {
		t.Error("ORG_MEMBER should read but not create or delete the org's gateways")
	}
	owner := Actor{UserID: "usr_1", Role: Member, OrganizationID: "org_1", OrgRole: OrgOwner}
	if !owner.Can(PermGatewayDelete) {
		t.Error("ORG_OWNER cannot delete the org's gateways")
	}
	noRole := Actor{UserID: "usr_1", Role: Member, OrganizationID: "org_1"}
	if noRole.Can(PermGatewayRead) {
		t.Error("an org context without an org role was granted access")
	}
}

func TestCanDoAction_RespectsLimitsAndUnlimited(t *testing.T) {
	t.Parallel()
	cases := []struct {
		plan         Plan
		action       Action
		used, amount int64
		want         bool
	}{
		{Free, ActionCreateGateway, 0, 1, true},
		{Free, ActionCreateGateway, 1, 1, false},
		{Free, ActionExecute, 99, 1, true},
		{Free, ActionExecute, 100, 1, false},
		{Enterprise, ActionExecute, 1 << 40, 1, true},
		{Plan("BOGUS"), ActionCreateGateway, 1, 1, false},
		{Pro, Action("bogus"), 0, 1, false},
	}
	for _, c := range cases {
		if got := CanDoAction(c.plan, c.action, c.used, c.amount); got != c.want {
			t.Errorf("CanDoAction(%s, %s, %d, %d) = %v, want %v", c.plan, c.action, c.used, c.amount, got, c.want)
		}
	}
}

func TestWorkspaceID_IsOrgInOrgContext(t *testing.T) {
	t.Parallel()
	if got := (Actor{UserID: "usr_1"}).WorkspaceID(); got != "usr_1" {
		t.Errorf("personal workspace = %q", got)
	}
	if got := (Actor{UserID: "usr_1", OrganizationID: "org_1"}).WorkspaceID(); got != "org_1" {
		t.Errorf("org workspace = %q", got)
	}
}

// The seed's roles are cumulative: every role holds every MEMBER right,
// ADMIN holds every DEVELOPER and SUPPORT right, SUPER_ADMIN every ADMIN
// right; SUPPORT writes nothing a MEMBER cannot.
func TestCan_RolesAreCumulativeInTheSeedsOrder(t *testing.T) {
	t.Parallel()
	below := map[Role][]Role{
		SuperAdmin: {Admin},
		Admin:      {Developer, Support},
		Developer:  {Member},
		Support:    {Member},
	}
	for _, p := range Permissions() {
		for r, lower := range below {
			for _, l := range lower {
				if (Actor{UserID: "usr_1", Role: l}).Can(p) && !(Actor{UserID: "usr_1", Role: r}).Can(p) {
					t.Errorf("%s holds %s but %s does not", l, p, r)
				}
			}
		}
	}
	if len(Roles) != 5 || Roles[0] != SuperAdmin || Roles[1] != Admin || Roles[2] != Developer || Roles[3] != Support || Roles[4] != Member {
		t.Errorf("roles are not the seed's, in its order: %v", Roles)
	}
	writes := []Permission{PermUsersManage, PermUsersDelete, PermUsersImpersonate, PermFlagsManage,
		PermMarketReview, PermMarketFeature, PermCreditsGrant, PermMarketSubmit}
	for _, p := range writes {
		if (Actor{UserID: "usr_1", Role: Support}).Can(p) {
			t.Errorf("SUPPORT holds the write permission %s", p)
		}
	}
}
