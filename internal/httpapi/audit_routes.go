package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"

	"github.com/switchboard/switchboard/internal/audit"
)

func auditFilter(r *http.Request) (audit.Filter, error) {
	q := r.URL.Query()
	f := audit.Filter{Action: q.Get("action"), Resource: q.Get("resource"), ResourceID: q.Get("resourceId"),
		Status: q.Get("status"), Cursor: q.Get("cursor"), UserID: q.Get("userId"), OrganizationID: q.Get("organizationId")}
	var err error
	if f.Limit, err = queryInt(r, "limit", 1, 200); err != nil {
		return f, err
	}
	if f.From, err = queryTime(r, "from"); err != nil {
		return f, err
	}
	if f.To, err = queryTime(r, "to"); err != nil {
		return f, err
	}
	return f, nil
}

var auditParams = append([]param{
	{"action", "Only this action, e.g. auth.login."},
	{"resource", "Only this resource type, e.g. user."},
	{"resourceId", "Only this resource id."},
	{"status", "success or failure."},
	{"from", "Earliest time (RFC 3339, inclusive)."},
	{"to", "Latest time (RFC 3339, exclusive)."},
}, pageParams...)

func (s *Server) auditRoutes() {
	s.handle(route{method: "GET", path: "/api/v1/audit", tag: "audit", access: signedIn, keyPerm: actor.PermWorkspaceAuditRd,
		summary: "Your own audit events, newest first.", response: audit.Page{}, query: auditParams,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			f, err := auditFilter(r)
			if err != nil {
				return err
			}
			p, err := s.Audit.ListOwn(r.Context(), s.actorOf(r), f)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/audit/export", doc: auditExportDoc, tag: "audit", access: signedIn, keyPerm: actor.PermWorkspaceAuditRd,
		summary: "Download your own audit events (CSV or NDJSON), with the list's filters.", query: auditExportParams,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			f, err := auditFilter(r)
			if err != nil {
				return err
			}
			a := s.actorOf(r)
			return s.writeAuditExport(w, r, "audit", f, func(f audit.Filter) (audit.Page, error) { return s.Audit.ListOwn(r.Context(), a, f) })
		}})
	s.handle(route{method: "GET", path: "/api/v1/audit/verify", tag: "audit", access: signedIn, keyPerm: actor.PermWorkspaceAuditRd,
		summary: "Check that your own audit rows are intact and linked into the hash chain.", response: audit.VerifyResult{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			res, err := s.Audit.VerifyOwn(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, res)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/admin/audit", tag: "admin", access: signedIn, perm: actor.PermAuditReadAll,
		summary: "Every audit event, newest first (ADMIN+).", response: audit.Page{},
		query: append([]param{{"userId", "Only events of this user."}, {"organizationId", "Only events in this organization."}}, auditParams...),
		handler: func(w http.ResponseWriter, r *http.Request) error {
			f, err := auditFilter(r)
			if err != nil {
				return err
			}
			p, err := s.Audit.ListAll(r.Context(), s.actorOf(r), f)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/admin/audit/export", doc: auditExportDoc, tag: "admin", access: signedIn, perm: actor.PermAuditReadAll,
		summary: "Download every audit event (CSV or NDJSON), with the list's filters (ADMIN+).",
		query:   append([]param{{"userId", "Only events of this user."}, {"organizationId", "Only events in this organization."}}, auditExportParams...),
		handler: func(w http.ResponseWriter, r *http.Request) error {
			f, err := auditFilter(r)
			if err != nil {
				return err
			}
			a := s.actorOf(r)
			return s.writeAuditExport(w, r, "audit", f, func(f audit.Filter) (audit.Page, error) { return s.Audit.ListAll(r.Context(), a, f) })
		}})
	s.handle(route{method: "GET", path: "/api/v1/admin/audit/verify", tag: "admin", access: signedIn, perm: actor.PermAuditReadAll,
		summary: "Walk the hash chain and name the first tampered row (ADMIN+).", response: audit.VerifyResult{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			res, err := s.Audit.Verify(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, res)
			return nil
		}})
}
