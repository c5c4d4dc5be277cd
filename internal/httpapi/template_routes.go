package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/workflow"
	"github.com/switchboard/switchboard/internal/workflow/templates"
)

// The workflow gallery's templates and the studio's expression preview.
func (s *Server) templateRoutes() {
	gate := s.requireFlag(workflowFlag)
	s.handle(route{method: "GET", path: "/api/v1/workflows/templates", tag: "workflows", access: signedIn, perm: actor.PermWorkflowRead,
		response: page[templates.Template]{},
		summary:  "The gallery of ready workflows (the documentation's examples), each with a sample input; use one with POST /workflows/import, replacing the placeholder ids its needs name.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			list, err := templates.All()
			if err != nil {
				return err
			}
			return writeWholePage(w, r, list)
		})})
	s.handle(route{method: "POST", path: "/api/v1/workflows/expressions/preview", tag: "workflows", access: signedIn, perm: actor.PermWorkflowRead,
		request: workflow.PreviewInput{}, response: workflow.PreviewResult{},
		summary: "Evaluate an expression, template or JMESPath transform over a run's data (runId) or data given inline, with the engine's own evaluator and limits; ok false with the error when it does not compile or fails.",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			var in workflow.PreviewInput
			if err := decode(r, &in); err != nil {
				return err
			}
			res, err := s.Workflows.PreviewExpression(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, res)
			return nil
		})})
}
