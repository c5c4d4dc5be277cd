package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
)

// Discord interactions keep what the user gave: autocompletes get a valid
// type 8 answer, subcommand options are kept with their path, and a modal's
// inputs become the message's fields.
func TestGatewayDiscord_Interactions(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		d := gatewaytest.NewDiscord(t, fakeDiscordToken)
		h := gatewayNode(t, url, []string{d.Host()}, func(c *config.Config) { c.Gateway.DiscordAPIURL = d.URL })
		tok := h.SignUp("discord-ix@example.com", "correct horse battery").AccessToken
		g := createGateway(t, h, tok, map[string]any{"type": "DISCORD", "name": "dc", "credentials": map[string]string{"botToken": fakeDiscordToken},
			"config": map[string]any{"publicKey": d.PublicKeyHex()}})
		if g = connectGateway(t, h, tok, g.ID); g.Status != "CONNECTED" {
			t.Fatalf("connect: %+v", g)
		}
		post := func(v any) map[string]any {
			t.Helper()
			body := jsonBody(t, v)
			r := h.Do(apptest.Request{Method: "POST", Path: hookPath(g), Body: body, Headers: d.Sign(body, time.Now())})
			var out map[string]any
			if r.Status != http.StatusOK || json.Unmarshal(r.Raw, &out) != nil {
				t.Fatalf("interaction answered %d %s", r.Status, r.Raw)
			}
			return out
		}
		member := map[string]any{"user": map[string]any{"id": "U7", "username": "ann"}}

		// Autocomplete: APPLICATION_COMMAND_AUTOCOMPLETE_RESULT, no event.
		ac := post(map[string]any{"id": "ix-ac", "type": 4, "application_id": "1", "channel_id": "C1", "member": member,
			"data": map[string]any{"id": "cmd1", "name": "admin", "type": 1, "options": []any{map[string]any{"name": "user", "type": 2,
				"options": []any{map[string]any{"name": "ban", "type": 1, "options": []any{
					map[string]any{"name": "target", "type": 3, "value": "an", "focused": true}}}}}}}})
		data, _ := ac["data"].(map[string]any)
		if choices, ok := data["choices"].([]any); ac["type"] != float64(8) || !ok || len(choices) != 0 {
			t.Fatalf("autocomplete answered %v", ac)
		}

		// A command with a subcommand group: path and options kept.
		if r := post(map[string]any{"id": "ix-cmd", "type": 2, "application_id": "1", "channel_id": "C1", "member": member,
			"data": map[string]any{"id": "cmd1", "name": "admin", "type": 1, "options": []any{map[string]any{"name": "user", "type": 2,
				"options": []any{map[string]any{"name": "ban", "type": 1, "options": []any{
					map[string]any{"name": "target", "type": 6, "value": "80351110224678912"},
					map[string]any{"name": "days", "type": 4, "value": 7},
					map[string]any{"name": "reason", "type": 3, "value": "spam \"links\""}}}}}}}}); r["type"] != float64(4) {
			t.Fatalf("command answered %v", r)
		}
		// A modal submit: its text inputs are the message's fields.
		if r := post(map[string]any{"id": "ix-modal", "type": 5, "application_id": "1", "channel_id": "C1", "member": member,
			"data": map[string]any{"custom_id": "feedback", "components": []any{
				map[string]any{"type": 1, "components": []any{map[string]any{"type": 4, "custom_id": "subject", "value": "Billing"}}},
				map[string]any{"type": 1, "components": []any{map[string]any{"type": 4, "custom_id": "body", "value": "Charged twice."}}}}}}); r["type"] != float64(4) {
			t.Fatalf("modal submit answered %v", r)
		}

		evs := waitProcessed(t, h, tok, g.ID)
		byID := map[string]eventItem{}
		for _, e := range evs {
			byID[e.Payload.ProviderEventID] = e
		}
		if len(evs) != 2 {
			t.Fatalf("events (autocomplete must not be one): %+v", evs)
		}
		cmd := byID["ix-cmd"]
		if cmd.Type != "gateway.command" || cmd.Payload.Command != "admin" ||
			cmd.Payload.Args != `user ban target=80351110224678912 days=7 reason=spam "links"` ||
			cmd.Payload.Fields["user.ban.target"] != "80351110224678912" || cmd.Payload.Fields["user.ban.days"] != "7" ||
			cmd.Payload.Fields["user.ban.reason"] != `spam "links"` {
			t.Fatalf("command event: %+v", cmd)
		}
		modal := byID["ix-modal"]
		if modal.Type != "gateway.message" || modal.Payload.Fields["subject"] != "Billing" || modal.Payload.Fields["body"] != "Charged twice." ||
			modal.Payload.Text != "Billing\nCharged twice." || modal.Payload.UserID != "U7" || modal.Payload.ChatID != "C1" {
			t.Fatalf("modal event: %+v", modal)
		}
	})
}
