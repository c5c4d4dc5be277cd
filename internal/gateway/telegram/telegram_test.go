package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/gateway/channel"
)

func TestParse_MessagesCommandsAndMembers(t *testing.T) {
	t.Parallel()
	a := New("", http.DefaultClient)
	tg := channel.Target{Credentials: map[string]string{"botToken": "1:x", "webhookSecret": "s3cret"}}
	hdr := http.Header{SecretHeader: {"s3cret"}}
	for _, c := range []struct {
		body  string
		types []string
	}{
		{`{"update_id":1,"message":{"message_id":1,"from":{"id":7,"username":"ann"},"chat":{"id":5},"text":"hi"}}`, []string{channel.EventMessage}},
		{`{"update_id":2,"message":{"message_id":2,"from":{"id":7},"chat":{"id":5},"text":"/start@fake_bot now please"}}`, []string{channel.EventCommand}},
		{`{"update_id":3,"message":{"message_id":3,"chat":{"id":5},"new_chat_members":[{"id":8},{"id":9}]}}`, []string{channel.EventMemberJoined, channel.EventMemberJoined}},
		{`{"update_id":4,"message":{"message_id":4,"chat":{"id":5},"left_chat_member":{"id":8}}}`, []string{channel.EventMemberLeft}},
		{`{"update_id":5,"edited_message":{"message_id":4}}`, nil},
	} {
		in, err := a.Parse(context.Background(), tg, channel.Request{Method: "POST", Header: hdr, Body: []byte(c.body)})
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		if len(in.Events) != len(c.types) {
			t.Fatalf("%s: %d events, want %d", c.body, len(in.Events), len(c.types))
		}
		seen := map[string]bool{}
		for i, e := range in.Events {
			if e.Type != c.types[i] || e.ChatID != "5" || seen[e.ProviderID] {
				t.Errorf("%s: event %d = %+v", c.body, i, e)
			}
			seen[e.ProviderID] = true
			if e.Type == channel.EventCommand && (e.Command != "start" || e.Args != "now please") {
				t.Errorf("command parsed as %q %q", e.Command, e.Args)
			}
		}
	}
	for _, h := range []http.Header{{}, {SecretHeader: {"wrong"}}} {
		if _, err := a.Parse(context.Background(), tg, channel.Request{Header: h, Body: []byte(`{"update_id":1}`)}); !errors.Is(err, channel.ErrUnauthorized) {
			t.Errorf("header %v: %v", h, err)
		}
	}
}

// chat_member updates (requested in allowed_updates) become joins and
// leaves by membership, and a media message's caption is its text.
func TestParse_ChatMemberAndCaptions(t *testing.T) {
	t.Parallel()
	a := New("", http.DefaultClient)
	tg := channel.Target{Credentials: map[string]string{"botToken": "1:x", "webhookSecret": "s3cret"}}
	parse := func(body string) []channel.Event {
		t.Helper()
		in, err := a.Parse(context.Background(), tg, channel.Request{Method: "POST", Header: http.Header{SecretHeader: {"s3cret"}}, Body: []byte(body)})
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return in.Events
	}
	member := func(update int, old, new string, isMember bool) string {
		return fmt.Sprintf(`{"update_id":%d,"chat_member":{"chat":{"id":-100,"type":"supergroup"},"from":{"id":1,"is_bot":false,"first_name":"Admin"},"date":1700000000,
			"old_chat_member":{"status":%q,"user":{"id":8,"is_bot":false,"first_name":"Bob","username":"bob"}},
			"new_chat_member":{"status":%q,"user":{"id":8,"is_bot":false,"first_name":"Bob","username":"bob"},"is_member":%v}}}`, update, old, new, isMember)
	}
	for _, c := range []struct {
		old, new string
		isMember bool
		want     string
	}{
		{"left", "member", false, channel.EventMemberJoined},
		{"kicked", "restricted", true, channel.EventMemberJoined},
		{"member", "left", false, channel.EventMemberLeft},
		{"administrator", "kicked", false, channel.EventMemberLeft},
		{"member", "restricted", false, channel.EventMemberLeft},
		{"member", "administrator", false, ""},
		{"left", "kicked", false, ""},
	} {
		evs := parse(member(20, c.old, c.new, c.isMember))
		if c.want == "" {
			if len(evs) != 0 {
				t.Errorf("%s → %s: %+v, want no event", c.old, c.new, evs)
			}
			continue
		}
		if len(evs) != 1 || evs[0].Type != c.want || evs[0].ChatID != "-100" || evs[0].UserID != "8" || evs[0].Username != "bob" || evs[0].ProviderID == "" {
			t.Errorf("%s → %s: %+v, want one %s", c.old, c.new, evs, c.want)
		}
	}
	// The same join reported as a service message is the same event.
	joined := parse(member(21, "left", "member", false))
	svc := parse(`{"update_id":22,"message":{"message_id":5,"date":1700000000,"chat":{"id":-100,"type":"supergroup"},"from":{"id":8},"new_chat_members":[{"id":8,"username":"bob"}]}}`)
	if len(svc) != 1 || svc[0].ProviderID != joined[0].ProviderID {
		t.Errorf("service message %+v, chat_member %+v: want one provider id", svc, joined)
	}

	for body, want := range map[string][3]string{
		`{"update_id":30,"message":{"message_id":6,"from":{"id":7},"chat":{"id":5},"photo":[{"file_id":"AgAD","file_unique_id":"u","width":90,"height":90}],"caption":"look at this"}}`: {channel.EventMessage, "look at this", ""},
		`{"update_id":31,"message":{"message_id":7,"from":{"id":7},"chat":{"id":5},"document":{"file_id":"BQAD","file_unique_id":"d"},"caption":"/report weekly"}}`:                     {channel.EventCommand, "/report weekly", "report"},
	} {
		evs := parse(body)
		if len(evs) != 1 || evs[0].Type != want[0] || evs[0].Text != want[1] || evs[0].Command != want[2] {
			t.Errorf("%s: %+v", body, evs)
		}
	}
}
