package httpapi_test

import (
	"testing"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A join Telegram reports as a chat_member update and as a service message
// is one member event (one greeting); a photo's caption is its text.
func TestGatewayTelegram_MembersAndCaptions(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, f, tok, g := telegramEventNode(t, url, "tg-members@example.com")
		wel := install(t, h, tok, map[string]any{"plugin": "welcome", "gatewayIds": []string{g.ID},
			"config": map[string]any{"template": "Hi {{.name}}!"}})
		bob := map[string]any{"id": 9, "is_bot": false, "first_name": "Bob", "username": "bob"}
		chat := map[string]any{"id": -100123, "type": "supergroup", "title": "Club"}
		deliverTelegram(t, h, f, g, map[string]any{"update_id": 6001, "chat_member": map[string]any{"chat": chat, "from": bob, "date": 1700000000,
			"old_chat_member": map[string]any{"status": "left", "user": bob},
			"new_chat_member": map[string]any{"status": "member", "user": bob}}})
		deliverTelegram(t, h, f, g, map[string]any{"update_id": 6002, "message": map[string]any{"message_id": 40, "date": 1700000000,
			"chat": chat, "from": bob, "new_chat_members": []any{bob}}})
		deliverTelegram(t, h, f, g, map[string]any{"update_id": 6003, "message": map[string]any{"message_id": 41, "date": 1700000005,
			"chat": chat, "from": bob, "photo": []any{map[string]any{"file_id": "AgACAgQ", "file_unique_id": "AQAD", "width": 90, "height": 67}},
			"caption": "our new logo"}})
		deliverTelegram(t, h, f, g, map[string]any{"update_id": 6004, "chat_member": map[string]any{"chat": chat, "from": bob, "date": 1700000100,
			"old_chat_member": map[string]any{"status": "member", "user": bob},
			"new_chat_member": map[string]any{"status": "left", "user": bob}}})
		evs := waitProcessed(t, h, tok, g.ID)
		types := map[string]int{}
		for _, e := range evs {
			types[e.Type]++
			if e.Type == "gateway.message" && (e.Payload.Text != "our new logo" || e.Payload.ChatID != "-100123") {
				t.Errorf("caption message: %+v", e)
			}
		}
		if len(evs) != 3 || types["gateway.member_joined"] != 1 || types["gateway.member_left"] != 1 || types["gateway.message"] != 1 {
			t.Fatalf("events: %+v", evs)
		}
		if es := waitExecutions(t, h, tok, wel, 3); len(es) != 3 {
			t.Fatalf("welcome executions: %+v", es)
		}
		if sent := waitSent(t, f, 1); len(sent) != 1 || sent[0].Text != "Hi bob!" || sent[0].ChatID != "-100123" {
			t.Fatalf("greetings: %+v", sent)
		}
	})
}
