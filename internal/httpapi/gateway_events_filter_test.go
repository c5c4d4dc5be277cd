package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// GET /gateways/{id}/events narrows by event type and processing status
// and pages within the filter; an unknown type or status is a 400 on its
// field; another workspace's gateway is not found.
func TestGatewayEvents_Filters(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, f, tok, g := telegramEventNode(t, url, "ev-filter@example.com")
		deliverTelegram(t, h, f, g, tgMessage(7001, "ann", "first"))
		deliverTelegram(t, h, f, g, tgMessage(7002, "bob", "/start now"))
		deliverTelegram(t, h, f, g, tgMessage(7003, "ann", "second"))
		if evs := waitProcessed(t, h, tok, g.ID); len(evs) != 3 {
			t.Fatalf("events: %+v", evs)
		}
		base := "/api/v1/gateways/" + g.ID + "/events"

		var cmds []eventItem
		h.Call(http.StatusOK, "GET", base+"?type=gateway.command", tok, nil).Items(t, &cmds)
		if len(cmds) != 1 || cmds[0].Payload.Command != "start" {
			t.Errorf("commands: %+v", cmds)
		}
		// Paged within the filter: the newest message, then the older one.
		var p1, p2 []eventItem
		next := h.Call(http.StatusOK, "GET", base+"?type=gateway.message&limit=1", tok, nil).Items(t, &p1)
		if len(p1) != 1 || p1[0].Payload.Text != "second" || next == "" {
			t.Fatalf("first page: %+v next %q", p1, next)
		}
		if last := h.Call(http.StatusOK, "GET", base+"?type=gateway.message&limit=1&cursor="+next, tok, nil).Items(t, &p2); len(p2) != 1 || p2[0].Payload.Text != "first" || last != "" {
			t.Fatalf("second page: %+v next %q", p2, last)
		}
		var pending, done []eventItem
		h.Call(http.StatusOK, "GET", base+"?status=RECEIVED", tok, nil).Items(t, &pending)
		h.Call(http.StatusOK, "GET", base+"?status=PROCESSED", tok, nil).Items(t, &done)
		if len(pending) != 0 || len(done) != 3 {
			t.Errorf("RECEIVED %d, PROCESSED %d; want 0 and 3", len(pending), len(done))
		}

		for q, field := range map[string]string{"?type=message": "type", "?status=DONE": "status"} {
			r := h.Call(http.StatusBadRequest, "GET", base+q, tok, nil)
			if r.Code() != "VALIDATION_ERROR" || !strings.Contains(string(r.Raw), `"field":"`+field+`"`) {
				t.Errorf("%s answered %s", q, r.Raw)
			}
		}
		other := h.SignUp("ev-other@example.com", "correct horse battery").AccessToken
		h.Call(http.StatusNotFound, "GET", base+"?type=gateway.message", other, nil)
	})
}
