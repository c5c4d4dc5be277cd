package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/org"
)

type nameRequest struct {
	Name string `json:"name"`
}

// orgUpdateRequest changes an organization's settings; an absent field is
// left as it is.
type orgUpdateRequest struct {
	Name *string `json:"name,omitempty"`
	// Require2FA makes a second factor mandatory for every member.
	Require2FA *bool `json:"require2fa,omitempty"`
}

type roleRequest struct {
	OrgRole actor.OrgRole `json:"orgRole"`
}

type departmentRequest struct {
	// DepartmentID is null or empty to take the member out of any department.
	DepartmentID *string `json:"departmentId"`
}

type switchRequest struct {
	// OrganizationID is null or empty for the personal workspace.
	OrganizationID *string `json:"organizationId"`
}

func (s *Server) orgRoutes() {
	s.handle(route{method: "POST", path: "/api/v1/orgs", tag: "organizations", access: signedIn, status: http.StatusCreated,
		summary: "Create an organization; you become its ORG_OWNER (flag organization_support).", request: nameRequest{}, response: org.Org{},
		handler: s.requireFlag("organization_support")(func(w http.ResponseWriter, r *http.Request) error {
			var in nameRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			o, err := s.Orgs.Create(r.Context(), s.actorOf(r), in.Name)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, o)
			return nil
		})})
	s.handle(route{method: "GET", path: "/api/v1/orgs", tag: "organizations", access: signedIn,
		summary: "The organizations you belong to, with your role in each.", response: page[org.Org]{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			list, err := s.Orgs.ListMine(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			return writeWholePage(w, r, list)
		}})
	s.handle(route{method: "GET", path: "/api/v1/orgs/{id}", tag: "organizations", access: signedIn,
		summary: "One organization you belong to.", response: org.Org{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			o, err := s.Orgs.Get(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, o)
			return nil
		}})
	s.handle(route{method: "PATCH", path: "/api/v1/orgs/{id}", doc: routeDoc{errors: []int{409}}, tag: "organizations", access: signedIn,
		summary: "Rename an organization (ORG_OWNER, ORG_ADMIN), or turn require2fa on or off (ORG_OWNER with a second factor, re-authenticated).",
		request: orgUpdateRequest{}, response: org.Org{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in orgUpdateRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			if in.Name == nil && in.Require2FA == nil {
				return apperr.New(apperr.Validation, "nothing to update: send name or require2fa")
			}
			var o org.Org
			var err error
			if in.Name != nil {
				if o, err = s.Orgs.Rename(r.Context(), s.actorOf(r), r.PathValue("id"), *in.Name); err != nil {
					return err
				}
			}
			if in.Require2FA != nil {
				if o, err = s.Orgs.SetRequire2FA(r.Context(), s.actorOf(r), r.PathValue("id"), *in.Require2FA); err != nil {
					return err
				}
			}
			writeJSON(w, http.StatusOK, o)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/orgs/{id}", tag: "organizations", access: signedIn,
		summary: "Delete an organization (ORG_OWNER; soft delete).", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Orgs.Delete(r.Context(), s.actorOf(r), r.PathValue("id")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "organization deleted"})
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/orgs/{id}/audit", tag: "organizations", access: signedIn, keyPerm: actor.PermOrgAuditRead,
		summary: "The organization's audit events (ORG_OWNER, ORG_ADMIN).", response: audit.Page{}, query: auditParams,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			f, err := auditFilter(r)
			if err != nil {
				return err
			}
			f.UserID = ""
			p, err := s.Orgs.AuditLog(r.Context(), s.actorOf(r), r.PathValue("id"), f)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/orgs/{id}/audit/export", doc: auditExportDoc, tag: "organizations", access: signedIn, keyPerm: actor.PermOrgAuditRead,
		summary: "Download the organization's audit events (CSV or NDJSON), with the list's filters (ORG_OWNER, ORG_ADMIN).", query: auditExportParams,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			f, err := auditFilter(r)
			if err != nil {
				return err
			}
			f.UserID = ""
			a, id := s.actorOf(r), r.PathValue("id")
			return s.writeAuditExport(w, r, "org-audit", f, func(f audit.Filter) (audit.Page, error) { return s.Orgs.AuditLog(r.Context(), a, id, f) })
		}})
	s.handle(route{method: "GET", path: "/api/v1/orgs/{id}/audit/verify", tag: "organizations", access: signedIn, keyPerm: actor.PermOrgAuditRead,
		summary: "Check that the organization's audit rows are intact and linked into the hash chain (ORG_OWNER, ORG_ADMIN).", response: audit.VerifyResult{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			res, err := s.Orgs.VerifyAuditLog(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, res)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/auth/switch", doc: routeDoc{errors: []int{404}}, tag: "auth", access: signedIn,
		summary: "Act in an organization you belong to (or null for your personal workspace): a new access token for this session.",
		request: switchRequest{}, response: auth.Tokens{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in switchRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			id := ""
			if in.OrganizationID != nil {
				id = *in.OrganizationID
			}
			t, err := s.Auth.SwitchWorkspace(r.Context(), s.actorOf(r), id)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, t)
			return nil
		}})
	s.memberRoutes()
	s.departmentRoutes()
	s.invitationRoutes()
}

func (s *Server) memberRoutes() {
	s.handle(route{method: "GET", path: "/api/v1/orgs/{id}/members", tag: "organizations", access: signedIn,
		summary: "The organization's members.", response: page[org.Member]{}, query: pageParams,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			after, n, err := pageQuery(r, oldestFirst(ids.User))
			if err != nil {
				return err
			}
			list, err := s.Orgs.ListMembers(r.Context(), s.actorOf(r), r.PathValue("id"), after, n)
			if err != nil {
				return err
			}
			p, err := keyset(r, list, func(x org.Member) string { return x.UserID }, oldestFirst(ids.User))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "PATCH", path: "/api/v1/orgs/{id}/members/{userId}", doc: routeDoc{errors: []int{409}}, tag: "organizations", access: signedIn,
		summary: "Change a member's org role (owners by an owner only; the last owner stays).", request: roleRequest{}, response: org.Member{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in roleRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			m, err := s.Orgs.ChangeRole(r.Context(), s.actorOf(r), r.PathValue("id"), r.PathValue("userId"), in.OrgRole)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, m)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/orgs/{id}/members/{userId}", doc: routeDoc{errors: []int{409}}, tag: "organizations", access: signedIn,
		summary: "Remove a member; their tokens for this organization stop working at once.", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Orgs.RemoveMember(r.Context(), s.actorOf(r), r.PathValue("id"), r.PathValue("userId")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "member removed"})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/orgs/{id}/leave", doc: routeDoc{errors: []int{409}}, tag: "organizations", access: signedIn,
		summary: "Leave an organization (not as its last owner).", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Orgs.Leave(r.Context(), s.actorOf(r), r.PathValue("id")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "you left the organization"})
			return nil
		}})
	s.handle(route{method: "PUT", path: "/api/v1/orgs/{id}/members/{userId}/department", tag: "organizations", access: signedIn,
		summary: "Put a member into a department, or null for none (a DEPT_MANAGER only within their own).",
		request: departmentRequest{}, response: org.Member{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in departmentRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			dept := ""
			if in.DepartmentID != nil {
				dept = *in.DepartmentID
			}
			m, err := s.Orgs.AssignDepartment(r.Context(), s.actorOf(r), r.PathValue("id"), r.PathValue("userId"), dept)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, m)
			return nil
		}})
}

func (s *Server) departmentRoutes() {
	s.handle(route{method: "GET", path: "/api/v1/orgs/{id}/departments", tag: "organizations", access: signedIn,
		summary: "The organization's departments.", response: page[org.Department]{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			list, err := s.Orgs.ListDepartments(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			return writeWholePage(w, r, list)
		}})
	s.handle(route{method: "POST", path: "/api/v1/orgs/{id}/departments", doc: routeDoc{errors: []int{409}}, tag: "organizations", access: signedIn, status: http.StatusCreated,
		summary: "Create a department (ORG_OWNER, ORG_ADMIN).", request: nameRequest{}, response: org.Department{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in nameRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			d, err := s.Orgs.CreateDepartment(r.Context(), s.actorOf(r), r.PathValue("id"), in.Name)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, d)
			return nil
		}})
	s.handle(route{method: "PATCH", path: "/api/v1/orgs/{id}/departments/{deptId}", doc: routeDoc{errors: []int{409}}, tag: "organizations", access: signedIn,
		summary: "Rename a department.", request: nameRequest{}, response: org.Department{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in nameRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			d, err := s.Orgs.RenameDepartment(r.Context(), s.actorOf(r), r.PathValue("id"), r.PathValue("deptId"), in.Name)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, d)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/orgs/{id}/departments/{deptId}", tag: "organizations", access: signedIn,
		summary: "Delete a department; its members stay in the organization.", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Orgs.DeleteDepartment(r.Context(), s.actorOf(r), r.PathValue("id"), r.PathValue("deptId")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "department deleted"})
			return nil
		}})
}

type acceptResponse struct {
	Organization org.Org `json:"organization"`
}

func (s *Server) invitationRoutes() {
	s.handle(route{method: "GET", path: "/api/v1/orgs/{id}/invitations", tag: "organizations", access: signedIn,
		summary:  "Invitations with their status: pending, accepted, expired or revoked (replaced ones count as revoked); ORG_OWNER, ORG_ADMIN.",
		response: page[org.Invitation]{}, query: append([]param{{"status", "Only invitations with this status: pending, accepted, expired or revoked."}}, pageParams...),
		handler: func(w http.ResponseWriter, r *http.Request) error {
			after, n, err := pageQuery(r, newestFirst(ids.Invitation))
			if err != nil {
				return err
			}
			list, err := s.Orgs.ListInvitations(r.Context(), s.actorOf(r), r.PathValue("id"), r.URL.Query().Get("status"), after, n)
			if err != nil {
				return err
			}
			p, err := keyset(r, list, func(x org.Invitation) string { return x.ID }, newestFirst(ids.Invitation))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/orgs/{id}/invitations", doc: routeDoc{errors: []int{409}}, tag: "organizations", access: signedIn, status: http.StatusCreated,
		summary: "Invite by email; a single-use link valid 7 days is mailed (re-inviting replaces it).",
		request: org.InviteInput{}, response: org.Invitation{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in org.InviteInput
			if err := decode(r, &in); err != nil {
				return err
			}
			inv, err := s.Orgs.Invite(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, inv)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/orgs/{id}/invitations/{invId}/resend", doc: routeDoc{errors: []int{409}}, tag: "organizations", access: signedIn, rateLimited: true,
		summary:  "Mail a pending or expired invitation again with a new link valid 7 days; the old link stops working (once a minute per invitation).",
		response: org.Invitation{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			inv, err := s.Orgs.ResendInvitation(r.Context(), s.actorOf(r), r.PathValue("id"), r.PathValue("invId"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, inv)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/orgs/{id}/invitations/{invId}", tag: "organizations", access: signedIn,
		summary: "Revoke a pending invitation.", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Orgs.RevokeInvitation(r.Context(), s.actorOf(r), r.PathValue("id"), r.PathValue("invId")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "invitation revoked"})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/invitations/accept", doc: routeDoc{errors: []int{409}}, tag: "organizations", access: signedIn,
		summary: "Accept an invitation as the signed-in user (whose email must be the invited one).",
		request: tokenRequest{}, response: acceptResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in tokenRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			o, err := s.Orgs.Accept(r.Context(), s.actorOf(r), in.Token)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, acceptResponse{Organization: o})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/invitations/accept-signup", doc: routeDoc{errors: []int{409}}, tag: "organizations", rateLimited: true, status: http.StatusCreated,
		summary: "Create an account for the invited address, join, and sign in.", request: acceptSignupRequest{}, response: auth.Tokens{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in acceptSignupRequest
			if err := decode(r, &in); err != nil {
				return err
			}
			if err := s.checkSessionMode(r, in.Session); err != nil {
				return err
			}
			a := s.actorOf(r)
			_, email, err := s.Orgs.AcceptWithSignup(r.Context(), a, in.AcceptSignupInput)
			if err != nil {
				return err
			}
			res, err := s.Auth.Login(r.Context(), a, email, in.Password)
			if err != nil {
				return err
			}
			if res.Tokens == nil {
				// A new account has no second factor; never hand out less
				// than a session without saying why.
				return apperr.New(apperr.Conflict, "the account needs its second factor: sign in")
			}
			s.writeTokens(w, http.StatusCreated, *res.Tokens, in.Session)
			return nil
		}})
}
