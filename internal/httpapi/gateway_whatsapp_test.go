package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
	"github.com/switchboard/switchboard/internal/gateway/whatsapp"
)

// waChange is one Cloud API webhook notification for a phone number id.
func waChange(phoneID string, value map[string]any) map[string]any {
	value["messaging_product"] = "whatsapp"
	value["metadata"] = map[string]any{"display_phone_number": "15550100", "phone_number_id": phoneID}
	return map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{"id": "102290129340398",
		"changes": []any{map[string]any{"field": "messages", "value": value}}}}}
}

// A WhatsApp gateway takes only the notifications of its own phone number
// id (one Meta app posts every number's to the same callback), and a
// "failed" status marks the send it names FAILED with WhatsApp's error.
func TestGatewayWhatsApp_RoutingAndStatuses(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		f := gatewaytest.NewWhatsApp(t, fakeWAToken, fakeWAPhone)
		h := gatewayNode(t, url, []string{f.Host()}, func(c *config.Config) { c.Gateway.WhatsAppAPIURL = f.URL })
		tok := h.SignUp("wa-routing@example.com", "correct horse battery").AccessToken
		g := createGateway(t, h, tok, map[string]any{"type": "WHATSAPP", "name": "wa",
			"credentials": map[string]string{"accessToken": fakeWAToken, "appSecret": fakeWAAppSecret, "verifyToken": fakeWAVerify},
			"config":      map[string]any{"phoneNumberId": fakeWAPhone}})
		if g = connectGateway(t, h, tok, g.ID); g.Status != "CONNECTED" {
			t.Fatalf("connect: %+v", g)
		}
		post := func(body map[string]any) {
			t.Helper()
			b := jsonBody(t, body)
			r := h.Do(apptest.Request{Method: "POST", Path: hookPath(g), Body: b, Headers: map[string]string{"X-Hub-Signature-256": whatsapp.Sign(fakeWAAppSecret, b)}})
			if r.Status != http.StatusOK {
				t.Fatalf("notification answered %d %s", r.Status, r.Raw)
			}
		}
		msg := func(id, text string) map[string]any {
			return map[string]any{"contacts": []any{map[string]any{"wa_id": "15550001", "profile": map[string]any{"name": "Ann"}}},
				"messages": []any{map[string]any{"from": "15550001", "id": id, "timestamp": "1700000000", "type": "text",
					"text": map[string]any{"body": text}}}}
		}
		post(waChange("999999999999", msg("wamid.other", "for another number")))
		post(waChange(fakeWAPhone, msg("wamid.mine", "for this gateway")))
		evs := waitProcessed(t, h, tok, g.ID)
		if len(evs) != 1 || evs[0].Payload.ProviderEventID != "wamid.mine" || evs[0].Payload.Text != "for this gateway" {
			t.Fatalf("events: %+v", evs)
		}

		s := sendMessage(t, h, tok, g.ID, "15550001", "hello")
		if s.Status != "SENT" || s.ProviderMessageID == "" {
			t.Fatalf("send: %+v", s)
		}
		failed := func(phoneID string) map[string]any {
			return waChange(phoneID, map[string]any{"statuses": []any{map[string]any{"id": s.ProviderMessageID, "status": "failed",
				"timestamp": "1700000100", "recipient_id": "15550001", "errors": []any{map[string]any{"code": 131047,
					"title": "Re-engagement message", "message": "Re-engagement message",
					"error_data": map[string]any{"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}}}}})
		}
		// Another number's report on an id that happens to match: not ours.
		post(failed("999999999999"))
		post(waChange(fakeWAPhone, map[string]any{"statuses": []any{map[string]any{"id": s.ProviderMessageID, "status": "delivered",
			"timestamp": "1700000050", "recipient_id": "15550001"}}}))
		if s2 := waitSend(t, h, tok, g.ID, s.ID); s2.Status != "SENT" {
			t.Fatalf("after another number's report and a delivered status: %+v", s2)
		}
		post(failed(fakeWAPhone))
		s2 := waitSend(t, h, tok, g.ID, s.ID)
		if s2.Status != "FAILED" || !strings.Contains(s2.LastError, "131047") || !strings.Contains(s2.LastError, "Re-engagement message") {
			t.Fatalf("after a failed status: %+v", s2)
		}
		if evs := listEvents(t, h, tok, g.ID); len(evs) != 1 {
			t.Fatalf("statuses stored as events: %+v", evs)
		}
	})
}
