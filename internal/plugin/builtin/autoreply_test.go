package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/plugin"
)

type replySent struct{ gateway, chat, text string }

type replySender struct {
	mu   sync.Mutex
	sent []replySent
	err  error
}

func (f *replySender) send(_ context.Context, _ actor.Actor, gatewayID, chatID, text, _ string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	f.sent = append(f.sent, replySent{gatewayID, chatID, text})
	return "gws_fake", nil
}

func replyEvent(typ, chat, user, text string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"id": "gev_1", "type": typ, "payload": map[string]any{
		"gatewayId": "gw_1", "chatId": chat, "username": user, "text": text}})
	return b
}

func runReply(t *testing.T, b plugin.Builtin, config string, input json.RawMessage) plugin.ExecutionResult {
	t.Helper()
	if err := plugin.CheckConfig(b.Runner, json.RawMessage(config)); err != nil {
		t.Fatalf("config %s: %v", config, err)
	}
	return plugin.Run(context.Background(), b.Runner, plugin.ExecutionContext{Trigger: plugin.TriggerEvent, Config: json.RawMessage(config)}, input)
}

func TestAutoReply_Rules(t *testing.T) {
	t.Parallel()
	f := &replySender{}
	b := NewAutoReply(f.send)
	cfg := `{"rules":[{"keyword":"Price","reply":"From 5 EUR, {{.name}}"},{"keyword":"CAPS","caseSensitive":true,"reply":"caps"},
		{"regex":"^order #(\\d+)$","reply":"Looking up {{.text}}"}]}`
	cases := []struct {
		typ, text, want string
	}{
		{"gateway.message", "what's the price?", "From 5 EUR, ann"},
		{"gateway.message", "caps", ""},
		{"gateway.message", "CAPS", "caps"},
		{"gateway.message", "ORDER #42", "Looking up ORDER #42"},
		{"gateway.message", "order #42 please", ""},
		{"gateway.command", "/price now", "From 5 EUR, ann"},
		{"gateway.member_joined", "price", ""},
		{"gateway.message", "", ""},
	}
	for _, c := range cases {
		before := len(f.sent)
		res := runReply(t, b, cfg, replyEvent(c.typ, "555", "ann", c.text))
		if !res.Success {
			t.Fatalf("%q: %s", c.text, res.Error)
		}
		var out struct {
			Matched bool
			Reply   string
			SendID  string
		}
		_ = json.Unmarshal(res.Output, &out)
		if c.want == "" {
			if out.Matched || len(f.sent) != before {
				t.Errorf("%s %q should not match: %s", c.typ, c.text, res.Output)
			}
			continue
		}
		if !out.Matched || out.Reply != c.want || out.SendID != "gws_fake" || len(f.sent) != before+1 ||
			f.sent[before] != (replySent{"gw_1", "555", c.want}) || res.Metrics.APICalls != 1 {
			t.Errorf("%q: output %s sent %+v", c.text, res.Output, f.sent)
		}
	}
}

func TestAutoReply_ConfigAndFailures(t *testing.T) {
	t.Parallel()
	b := NewAutoReply((&replySender{}).send)
	for _, bad := range []string{`{}`, `{"rules":[]}`, `{"rules":[{"keyword":"a"}]}`, `{"rules":[{"keyword":"a","regex":"b","reply":"x"}]}`,
		`{"rules":[{"regex":"(","reply":"x"}]}`, `{"rules":[{"keyword":"a","reply":"{{.x"}]}`, `{"rules":[{"keyword":"a","reply":"x","extra":1}]}`} {
		if err := plugin.CheckConfig(b.Runner, json.RawMessage(bad)); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
	cfg := `{"rules":[{"keyword":"hi","reply":"hello"}]}`
	if res := runReply(t, b, cfg, json.RawMessage(`{"text":"hi"}`)); res.Success || !strings.Contains(res.Error, "input") {
		t.Errorf("input without an event shape: %+v", res)
	}
	if res := runReply(t, b, cfg, replyEvent("gateway.message", "", "ann", "hi")); res.Success || !strings.Contains(res.Error, "no chat") {
		t.Errorf("event without a chat: %+v", res)
	}
	failing := NewAutoReply((&replySender{err: errors.New("gateway is DISCONNECTED")}).send)
	if res := runReply(t, failing, cfg, replyEvent("gateway.message", "5", "ann", "hi")); res.Success || !strings.Contains(res.Error, "DISCONNECTED") {
		t.Errorf("send failure: %+v", res)
	}
	if res := runReply(t, NewAutoReply(nil), cfg, replyEvent("gateway.message", "5", "ann", "hi")); res.Success {
		t.Errorf("no sender: %+v", res)
	}
}

func TestWelcome(t *testing.T) {
	t.Parallel()
	f := &replySender{}
	b := NewWelcome(f.send)
	if res := runReply(t, b, `{}`, replyEvent("gateway.member_joined", "555", "", "")); !res.Success || f.sent[0].text != "Welcome, there!" {
		t.Fatalf("default greeting: %+v %+v", res, f.sent)
	}
	res := runReply(t, b, `{"template":"Hi @{{.username}} ({{.userId}})"}`, replyEvent("gateway.member_joined", "555", "bob", ""))
	if !res.Success || f.sent[1] != (replySent{"gw_1", "555", "Hi @bob ()"}) || !strings.Contains(string(res.Output), `"greeted":true`) {
		t.Fatalf("configured greeting: %+v %+v", res, f.sent)
	}
	if res := runReply(t, b, `{}`, replyEvent("gateway.message", "555", "bob", "hello")); !res.Success || string(res.Output) != `{"greeted":false}` || len(f.sent) != 2 {
		t.Errorf("a message is not a join: %+v", res)
	}
	for _, bad := range []string{`{"template":"{{"}`, `{"template":""}`, `{"template":7}`, `{"other":1}`} {
		if err := plugin.CheckConfig(b.Runner, json.RawMessage(bad)); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
	if res := runReply(t, b, `{"template":"{{if false}}x{{end}}"}`, replyEvent("gateway.member_joined", "555", "bob", "")); res.Success {
		t.Errorf("empty greeting sent: %+v", res)
	}
}

func TestReply_AsyncStandaloneDoesNotSend(t *testing.T) {
	t.Parallel()
	f := &replySender{}
	b := NewWelcome(f.send)
	ec := plugin.ExecutionContext{Trigger: plugin.TriggerStandalone, Config: json.RawMessage(`{}`), Actor: actor.Actor{System: true, UserID: "usr_1"}}
	if res := plugin.Run(context.Background(), b.Runner, ec, replyEvent("gateway.member_joined", "5", "bob", "")); res.Success || len(f.sent) != 0 {
		t.Errorf("system standalone run sent: %+v %+v", res, f.sent)
	}
	ec.Trigger = plugin.TriggerEvent
	if res := plugin.Run(context.Background(), b.Runner, ec, replyEvent("gateway.member_joined", "5", "bob", "")); !res.Success || len(f.sent) != 1 {
		t.Errorf("event run: %+v %+v", res, f.sent)
	}
}
