package telegram

import (
	"context"
	"errors"
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
