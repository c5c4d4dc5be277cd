package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/flag"
)

// handlerFunc is a route's handler, as route.handler holds it.
type handlerFunc = func(w http.ResponseWriter, r *http.Request) error

// requireFlag gates a route behind the feature flag key. Wrap the handler:
//
//	s.handle(route{method: "POST", path: "/api/v1/workflows", access: signedIn, …,
//		handler: s.requireFlag("workflow_builder")(func(w http.ResponseWriter, r *http.Request) error {
//			…
//		})})
//
// When the flag is off for the request's actor — disabled, deleted, or the
// actor is outside its targeting — the route answers 404 NOT_FOUND with the
// message "this feature is not available to you" and details {"flag": key},
// before the body is read. 404 rather than 403, because for that actor the
// feature does not exist yet: nothing changes for them when it rolls out to
// others, and an unreleased route is indistinguishable from an unknown one.
// The check runs after authentication, so targeting by user, organization,
// role and plan applies; on a public route the actor is anonymous and only an
// untargeted flag lets it through. Evaluation reads the node's in-process
// snapshot and costs no database round trip.
func (s *Server) requireFlag(key string) func(next handlerFunc) handlerFunc {
	return func(next handlerFunc) handlerFunc {
		return func(w http.ResponseWriter, r *http.Request) error {
			if !s.Flags.IsEnabled(s.actorOf(r), key) {
				return apperr.New(apperr.NotFound, "this feature is not available to you").
					WithDetails(map[string]any{"flag": key})
			}
			return next(w, r)
		}
	}
}

func (s *Server) flagRoutes() {
	s.handle(route{method: "GET", path: "/api/v1/flags", tag: "flags", access: signedIn,
		summary: "Every feature flag evaluated for the caller (what the dashboard uses).", response: flag.Evaluations{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			writeJSON(w, http.StatusOK, s.Flags.EvaluateAll(s.actorOf(r)))
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/admin/flags", tag: "admin", access: signedIn, perm: actor.PermFlagsManage,
		summary: "Every feature flag with its targeting, ordered by key (ADMIN+).", response: page[flag.Flag]{}, query: pageParams,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			list, err := s.Flags.List(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			p, err := keyset(r, list, func(x flag.Flag) string { return x.Key }, byKey(flag.ValidKey))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/admin/flags", doc: routeDoc{errors: []int{409}}, tag: "admin", access: signedIn, perm: actor.PermFlagsManage,
		status: http.StatusCreated, summary: "Create a feature flag (ADMIN+; audited).", request: flag.CreateInput{}, response: flag.Flag{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in flag.CreateInput
			if err := decode(r, &in); err != nil {
				return err
			}
			f, err := s.Flags.Create(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, f)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/admin/flags/{key}", tag: "admin", access: signedIn, perm: actor.PermFlagsManage,
		summary: "One feature flag (ADMIN+).", response: flag.Flag{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			f, err := s.Flags.Get(r.Context(), s.actorOf(r), r.PathValue("key"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, f)
			return nil
		}})
	s.handle(route{method: "PATCH", path: "/api/v1/admin/flags/{key}", tag: "admin", access: signedIn, perm: actor.PermFlagsManage,
		summary: "Change a feature flag's state, targeting, rollout or variants (ADMIN+; audited with before and after).",
		request: flag.UpdateInput{}, response: flag.Flag{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in flag.UpdateInput
			if err := decode(r, &in); err != nil {
				return err
			}
			f, err := s.Flags.Update(r.Context(), s.actorOf(r), r.PathValue("key"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, f)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/admin/flags/{key}/preview", tag: "admin", access: signedIn, perm: actor.PermFlagsManage,
		summary: "Whether a user, organization, role and plan get a feature flag, which variant and which rule decided; with definition, for an unsaved flag (ADMIN+; changes nothing).",
		request: flag.PreviewInput{}, response: flag.Preview{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in flag.PreviewInput
			if err := decode(r, &in); err != nil {
				return err
			}
			p, err := s.Flags.Preview(r.Context(), s.actorOf(r), r.PathValue("key"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/admin/flags/{key}", tag: "admin", access: signedIn, perm: actor.PermFlagsManage,
		summary: "Delete a feature flag; code asking for it sees it off (ADMIN+; audited).", response: messageResponse{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Flags.Delete(r.Context(), s.actorOf(r), r.PathValue("key")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "feature flag deleted"})
			return nil
		}})
}
