package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/workflow"
)

// workflowSettingsRoutes serves the workspace's workflow settings (the
// default error workflow).
func (s *Server) workflowSettingsRoutes() {
	gate := s.requireFlag(workflowFlag)
	s.handle(route{method: "GET", path: "/api/v1/workflows/settings", tag: "workflows", access: signedIn, perm: actor.PermWorkflowRead,
		response: workflow.WorkspaceSettings{},
		summary:  "The workspace's workflow settings: errorWorkflowId, the workflow started when a run of a workflow without its own settings.errorWorkflowId fails.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			out, err := s.Workflows.Settings(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		})})
	s.handle(route{method: "PUT", path: "/api/v1/workflows/settings", doc: routeDoc{errors: []int{404}}, tag: "workflows", access: signedIn, perm: actor.PermWorkflowUpdate,
		request: workflow.SettingsInput{}, response: workflow.WorkspaceSettings{},
		summary: "Replace the workspace's workflow settings: errorWorkflowId names a workflow of the workspace (null clears it). Audited as workflow.settings_changed.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			var in workflow.SettingsInput
			if err := decode(r, &in); err != nil {
				return err
			}
			out, err := s.Workflows.UpdateSettings(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		})})
}
