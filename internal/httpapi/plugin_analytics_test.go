package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/jobs"
	pluginstall "github.com/switchboard/switchboard/internal/plugin/install"
)

// tgChatMessage is a Telegram update: a message from user in chat.
func tgChatMessage(updateID, userID int, username string, chatID int, text string) map[string]any {
	return map[string]any{"update_id": updateID, "message": map[string]any{"message_id": updateID,
		"from": map[string]any{"id": userID, "username": username}, "chat": map[string]any{"id": chatID, "type": "group"}, "text": text}}
}

type analyticsRow struct {
	Day, GatewayID, ChatID, UserID, Username string
	Messages, Chats, Users                   int64
}

type analyticsReport struct {
	InstallationID, From, To, GroupBy string
	Rows                              []analyticsRow
	Truncated                         bool
	Totals                            struct{ Messages, Chats, Users int64 }
}

func analyticsOf(t *testing.T, h *apptest.Harness, tok, inst, query string) analyticsReport {
	t.Helper()
	var r analyticsReport
	h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst+"/analytics"+query, tok, nil).Data(t, &r)
	return r
}

// waitExecutionUntil polls one execution until done says it has arrived.
func waitExecutionUntil(t *testing.T, h *apptest.Harness, tok, inst, id string, done func(eventExecution) bool) eventExecution {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var e eventExecution
		h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst+"/executions/"+id, tok, nil).Data(t, &e)
		if done(e) {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s never arrived where expected: %+v %s", id, e, e.Output)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The analytics built-in counts the messages and commands of the gateways
// it subscribes to, once each — a redelivered update is one event, and a
// retried execution counts nothing — per day, chat and user; other events
// and standalone runs count nothing.
func TestAnalytics_CountsMessagesEndToEnd(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, f, tok, g := telegramEventNode(t, url, "analytics@example.com")
		inst := install(t, h, tok, map[string]any{"plugin": "analytics", "gatewayIds": []string{g.ID}})

		first := tgChatMessage(9001, 7, "ann", 555, "hi")
		for i := 0; i < 3; i++ { // the provider retries its delivery
			deliverTelegram(t, h, f, g, first)
		}
		deliverTelegram(t, h, f, g, tgChatMessage(9002, 7, "ann", 555, "again"))
		deliverTelegram(t, h, f, g, tgChatMessage(9003, 8, "bob", 555, "/help"))
		deliverTelegram(t, h, f, g, tgChatMessage(9004, 7, "ann", 556, "in another chat"))
		deliverTelegram(t, h, f, g, map[string]any{"update_id": 9005, "message": map[string]any{"message_id": 9005,
			"chat": map[string]any{"id": 555, "type": "group"}, "new_chat_members": []any{map[string]any{"id": 9, "username": "cat"}}}})

		es := waitExecutions(t, h, tok, inst, 5)
		if len(es) != 5 {
			t.Fatalf("executions %+v", es)
		}
		for i, e := range es {
			want := `"counted":true`
			if i == 4 {
				want = `"counted":false`
			}
			if e.Status != "SUCCEEDED" || e.Trigger != "event" || !strings.Contains(string(e.Output), want) {
				t.Errorf("execution %d: %+v %s", i, e, e.Output)
			}
		}

		checkCounts := func(when string) {
			t.Helper()
			days := analyticsOf(t, h, tok, inst, "")
			if days.Totals.Messages != 4 || days.Totals.Chats != 2 || days.Totals.Users != 2 {
				t.Errorf("%s: totals %+v", when, days.Totals)
			}
			var sum int64
			for _, r := range days.Rows {
				sum += r.Messages
			}
			if days.GroupBy != "day" || len(days.Rows) != 30 || sum != 4 || days.To != db.Now().Format(time.DateOnly) {
				t.Errorf("%s: by day %+v", when, days)
			}
			chats := analyticsOf(t, h, tok, inst, "?groupBy=chat")
			want := []analyticsRow{{GatewayID: g.ID, ChatID: "555", Messages: 3, Chats: 1, Users: 2}, {GatewayID: g.ID, ChatID: "556", Messages: 1, Chats: 1, Users: 1}}
			if !equalRows(chats.Rows, want) {
				t.Errorf("%s: by chat %+v", when, chats.Rows)
			}
			users := analyticsOf(t, h, tok, inst, "?groupBy=user&gatewayId="+g.ID)
			want = []analyticsRow{{GatewayID: g.ID, UserID: "7", Username: "ann", Messages: 3, Chats: 2, Users: 1}, {GatewayID: g.ID, UserID: "8", Username: "bob", Messages: 1, Chats: 1, Users: 1}}
			if !equalRows(users.Rows, want) {
				t.Errorf("%s: by user %+v", when, users.Rows)
			}
			chat := analyticsOf(t, h, tok, inst, "?chatId=556")
			if chat.Totals.Messages != 1 || chat.Totals.Users != 1 {
				t.Errorf("%s: chat 556 totals %+v", when, chat.Totals)
			}
		}
		checkCounts("after delivery")

		// A node dies after counting but before recording the result: the
		// execution is still RUNNING and its job runs again.
		e := es[0]
		var input struct{ WorkspaceID, UserID string }
		if err := json.Unmarshal(e.Input, &input); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := h.App.DB.SQL().ExecContext(ctx, `UPDATE plugin_executions SET status = 'RUNNING', output = NULL, finished_at = NULL
			WHERE id = $1`, e.ID); err != nil {
			t.Fatal(err)
		}
		if err := h.App.DB.Tx(ctx, func(tx *db.Tx) error {
			_, err := h.App.Jobs.InsertRouted(ctx, tx, jobs.Route{WorkspaceID: input.WorkspaceID, Plan: actor.Free},
				pluginstall.ExecuteArgs{ExecutionID: e.ID, WorkspaceID: input.WorkspaceID, UserID: input.UserID, Plan: actor.Free}, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		retried := waitExecutionUntil(t, h, tok, inst, e.ID, func(e eventExecution) bool { return e.Status == "SUCCEEDED" })
		if !strings.Contains(string(retried.Output), `"duplicate":true`) {
			t.Errorf("retried execution %+v %s", retried, retried.Output)
		}
		checkCounts("after a retried execution")

		// Standalone input could claim anything: it is not counted.
		var run eventExecution
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst+"/execute", tok, map[string]any{"input": map[string]any{
			"type": "gateway.message", "payload": map[string]any{"gatewayId": g.ID, "chatId": "555", "userId": "7", "text": "forged"}}}).Data(t, &run)
		if run.Status != "SUCCEEDED" || !strings.Contains(string(run.Output), `"counted":false`) {
			t.Errorf("standalone run %+v %s", run, run.Output)
		}
		checkCounts("after a standalone run")

		// Uninstalling takes the counters with it.
		h.Call(http.StatusOK, "DELETE", "/api/v1/installations/"+inst, tok, nil)
		for _, table := range []string{"plugin_analytics_counts", "plugin_analytics_seen"} {
			var n int
			if err := h.App.DB.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table+` WHERE installation_id = $1`, inst).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s after uninstall: %d rows (%v)", table, n, err)
			}
		}
	})
}

func equalRows(got, want []analyticsRow) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// The report answers 400 VALIDATION_ERROR for a bad query, naming the
// field, and 404 for an installation that is another workspace's or not
// an analytics one.
func TestAnalytics_QueryValidationAndIsolation(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		a := h.SignUp("analytics-a@example.com", pw)
		b := h.SignUp("analytics-b@example.com", pw)
		inst := install(t, h, a.AccessToken, map[string]any{"plugin": "analytics"})
		tmpl := install(t, h, a.AccessToken, map[string]any{"plugin": "template", "config": map[string]string{"template": "hi"}})
		path := "/api/v1/installations/" + inst + "/analytics"
		for _, c := range []struct{ query, field string }{
			{"?from=2026-1-1", "from"},
			{"?to=tomorrow", "to"},
			{"?from=2026-02-30", "from"},
			{"?from=2026-03-02&to=2026-03-01", "from"},
			{"?from=2025-01-01&to=2026-01-02", "to"},
			{"?groupBy=week", "groupBy"},
			{"?gatewayId=gw_nope", "gatewayId"},
			{"?groupBy=chat&limit=0", "limit"},
			{"?groupBy=chat&limit=1001", "limit"},
		} {
			r := h.Do(apptest.Request{Method: "GET", Path: path + c.query, Token: a.AccessToken})
			if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" || !strings.Contains(string(r.Body.Error.Details), `"field":"`+c.field+`"`) {
				t.Errorf("%s: %d %s, want 400 on %s", c.query, r.Status, r.Raw, c.field)
			}
		}
		r := analyticsOf(t, h, a.AccessToken, inst, "?from=2024-01-01&to=2024-12-31&groupBy=day")
		if len(r.Rows) != 366 || r.From != "2024-01-01" || r.To != "2024-12-31" {
			t.Errorf("a leap year: %d rows from %s to %s", len(r.Rows), r.From, r.To)
		}
		for who, c := range map[string]struct{ tok, path string }{
			"another user":            {b.AccessToken, path},
			"not analytics":           {a.AccessToken, "/api/v1/installations/" + tmpl + "/analytics"},
			"no installation":         {a.AccessToken, "/api/v1/installations/ins_nope/analytics"},
			"another user, bad query": {b.AccessToken, path + "?groupBy=week"},
		} {
			if r := h.Do(apptest.Request{Method: "GET", Path: c.path, Token: c.tok}); r.Status != http.StatusNotFound || r.Code() != "NOT_FOUND" {
				t.Errorf("%s: %d %s, want 404", who, r.Status, r.Raw)
			}
		}
	})
}
