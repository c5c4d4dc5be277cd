package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/jobs"
)

func (s *Server) systemRoutes() {
	s.handle(route{method: "GET", path: "/api/v1/admin/system", tag: "admin", access: signedIn, perm: actor.PermSystemRead,
		summary:  "The nodes' heartbeats, the job queues' depth by state and the latest failed jobs, never their args (SUPPORT+).",
		response: jobs.System{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if s.System == nil {
				return apperr.New(apperr.NotFound, "the system view is not available on this node")
			}
			out, err := s.System.Read(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
}
