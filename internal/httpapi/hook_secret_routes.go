package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/workflow"
)

// hookSecretRoutes serve the secret a webhook workflow verifies signed
// calls with (trigger.verify): set once, shown once, never read back.
func (s *Server) hookSecretRoutes() {
	if s.Workflows == nil {
		return
	}
	s.handle(route{method: "PUT", path: "/api/v1/workflows/{id}/webhook-secret", doc: routeDoc{errors: []int{409}}, tag: "workflows",
		access: signedIn, perm: actor.PermWorkflowUpdate, request: workflow.HookSecretInput{}, response: workflow.HookSecret{},
		summary: "Set the secret a webhook workflow's trigger.verify checks calls with (empty body: generate a whsec_ secret); shown only this once.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in workflow.HookSecretInput
			if err := decodeOptional(r, &in); err != nil {
				return err
			}
			sec, err := s.Workflows.SetHookSecret(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, sec)
			return nil
		}})
	s.handle(route{method: "DELETE", path: "/api/v1/workflows/{id}/webhook-secret", tag: "workflows",
		access: signedIn, perm: actor.PermWorkflowUpdate, response: messageResponse{},
		summary: "Remove a webhook's secret: a trigger that requires a signature then refuses every call (401) until one is set.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.Workflows.DeleteHookSecret(r.Context(), s.actorOf(r), r.PathValue("id")); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, messageResponse{Message: "webhook secret deleted"})
			return nil
		}})
}
