package httpapi

import (
	"net/http"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/plugin/analytics"
)

var analyticsParams = []param{
	{"from", "First UTC day, YYYY-MM-DD (default: 29 days before to)."},
	{"to", "Last UTC day, YYYY-MM-DD, inclusive (default: today); the range covers at most 366 days."},
	{"gatewayId", "Count only messages of this gateway."},
	{"chatId", "Count only messages of this chat."},
	{"groupBy", "day (default: every day of the range, zeros included), chat or user (busiest first)."},
	{"limit", "Rows of a chat or user report, 1–1000 (default 100); totals always cover everything."},
}

func (s *Server) analyticsRoutes() {
	if s.Analytics == nil {
		return
	}
	s.handle(route{method: "GET", path: "/api/v1/installations/{id}/analytics", tag: "installations", access: signedIn, perm: actor.PermPluginRead,
		response: analytics.Report{}, query: analyticsParams,
		summary: "Message counts of an analytics installation per day, chat or user, with totals (messages, distinct chats, distinct users).",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			limit, err := queryInt(r, "limit", 1, analytics.MaxLimit)
			if err != nil {
				return err
			}
			q := r.URL.Query()
			rep, err := s.Analytics.Report(r.Context(), s.actorOf(r), r.PathValue("id"), analytics.Query{From: q.Get("from"), To: q.Get("to"),
				GatewayID: q.Get("gatewayId"), ChatID: q.Get("chatId"), GroupBy: q.Get("groupBy"), Limit: limit})
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, rep)
			return nil
		}})
}
