package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/ids"
)

func (s *Server) adminUserRoutes() {
	s.handle(route{method: "GET", path: "/api/v1/admin/users", tag: "admin", access: signedIn, perm: actor.PermUsersRead,
		summary: "Search accounts (SUPPORT, ADMIN, SUPER_ADMIN).", response: auth.UserPage{},
		query: append([]param{
			{"q", "Part of the email or name."}, {"role", "Platform role."}, {"plan", "Plan."},
			{"active", "true or false."}, {"deleted", "exclude (default), include or only."},
		}, pageParams...),
		handler: func(w http.ResponseWriter, r *http.Request) error {
			q := r.URL.Query()
			f := auth.UserFilter{Query: q.Get("q"), Role: actor.Role(q.Get("role")), Plan: actor.Plan(q.Get("plan")),
				Deleted: q.Get("deleted")}
			var err error
			if f.Cursor, err = idCursor(r, ids.User); err != nil {
				return err
			}
			if f.Limit, err = queryInt(r, "limit", 1, 200); err != nil {
				return err
			}
			if f.Active, err = queryBool(r, "active"); err != nil {
				return err
			}
			p, err := s.Auth.ListUsers(r.Context(), s.actorOf(r), f)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/admin/users/{id}", tag: "admin", access: signedIn, perm: actor.PermUsersRead,
		summary: "One account, deleted ones included.", response: auth.User{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			u, err := s.Auth.GetUser(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, u)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/admin/users/{id}/sessions", tag: "admin", access: signedIn, perm: actor.PermUsersRead,
		summary: "An account's sessions, ended ones included, newest first (SUPPORT, ADMIN, SUPER_ADMIN).", response: auth.SessionPage{},
		query: pageParams,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			limit, err := queryInt(r, "limit", 1, 200)
			if err != nil {
				return err
			}
			cursor, err := idCursor(r, ids.Session)
			if err != nil {
				return err
			}
			p, err := s.Auth.ListUserSessions(r.Context(), s.actorOf(r), r.PathValue("id"), cursor, limit)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "PATCH", path: "/api/v1/admin/users/{id}", doc: routeDoc{errors: []int{409}}, tag: "admin", access: signedIn,
		summary: "Change an account's role, plan or active state.", request: auth.AdminUpdateInput{}, response: auth.User{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in auth.AdminUpdateInput
			if err := decode(r, &in); err != nil {
				return err
			}
			u, err := s.Auth.UpdateUser(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, u)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/admin/users/{id}", doc: routeDoc{errors: []int{409}}, tag: "admin", access: signedIn,
		summary: "Soft-delete an account (SUPER_ADMIN).", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Auth.DeleteUser(r.Context(), s.actorOf(r), r.PathValue("id")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "account deleted"})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/admin/users/{id}/restore", doc: routeDoc{errors: []int{409}}, tag: "admin", access: signedIn,
		summary: "Restore a soft-deleted account (SUPER_ADMIN).", response: auth.User{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			u, err := s.Auth.RestoreUser(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, u)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/admin/users/{id}/revoke-sessions", tag: "admin", access: signedIn,
		summary: "Sign an account out everywhere and revoke its API keys (the answer lists them).", response: auth.RevokedCredentials{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			out, err := s.Auth.RevokeUserSessions(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/admin/users/{id}/unlock", tag: "admin", access: signedIn,
		summary: "Clear a login lockout.", response: auth.User{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			u, err := s.Auth.UnlockUser(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, u)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/admin/users/{id}/impersonate", doc: routeDoc{errors: []int{409}}, tag: "admin", access: signedIn,
		roles:   []actor.Role{actor.SuperAdmin},
		summary: "A short-lived token acting as the user (SUPER_ADMIN; never another SUPER_ADMIN).", response: auth.Tokens{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			t, err := s.Auth.Impersonate(r.Context(), s.actorOf(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, t)
			return nil
		}})
}
