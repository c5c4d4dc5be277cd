package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/workflow"
)

// scheduleRoutes serves the schedule preview of the workflow editor's
// trigger panel: fire times computed by the parser the sweep uses.
func (s *Server) scheduleRoutes() {
	gate := s.requireFlag(workflowFlag)
	s.handle(route{method: "GET", path: "/api/v1/schedules/preview", doc: routeDoc{errors: []int{404}}, tag: "workflows", access: signedIn, perm: actor.PermWorkflowRead,
		response: workflow.SchedulePreview{},
		query: []param{{"cron", "a cron expression: five fields, or six with seconds first (give cron or interval)"},
			{"tz", "an IANA time zone for cron (default UTC)"}, {"interval", `a fixed interval such as "30s", "5m" or "1h"`}},
		summary: "The next five fire times of a schedule trigger, as the scheduler computes them; 400 for what a save would refuse (including the plan's minimum interval).",
		handler: gate(func(w http.ResponseWriter, r *http.Request) error {
			q := r.URL.Query()
			p, err := s.Workflows.PreviewSchedule(s.actorOf(r), q.Get("cron"), q.Get("tz"), q.Get("interval"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		})})
}
