package builtin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/plugin"
)

// GatewaySender queues a message through a gateway of the actor's
// workspace — the gateway send path, a retried job — and returns the
// send's id. A second send with the same key on the same gateway returns
// the first message instead of sending again. The app wires it to
// gateway.Service.Send.
type GatewaySender func(ctx context.Context, a actor.Actor, gatewayID, chatID, text, key string) (sendID string, err error)

// SendKey is the idempotency key of an execution's n-th message: the same
// when the execution runs again after a crash (its key is stable), and
// distinct per installation, so two plugins answering one event both send.
func SendKey(ec plugin.ExecutionContext, n int) string {
	if ec.IdempotencyKey == "" {
		return ""
	}
	return fmt.Sprintf("%s/%s/%d", ec.InstallationID, ec.IdempotencyKey, n)
}

// eventInputSchema accepts a gateway event in the WorkspaceJob shape, as
// event subscriptions deliver it (extra fields allowed).
const eventInputSchema = `{
	"type": "object",
	"properties": {
		"id": {"type": "string"},
		"type": {"type": "string", "minLength": 1},
		"payload": {
			"type": "object",
			"properties": {
				"gatewayId": {"type": "string", "minLength": 1},
				"chatId": {"type": "string"},
				"userId": {"type": "string"},
				"username": {"type": "string"},
				"text": {"type": "string"}
			},
			"required": ["gatewayId"]
		}
	},
	"required": ["type", "payload"]
}`

// gatewayEvent is the part of a WorkspaceJob the reacting built-ins read.
type gatewayEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Payload struct {
		GatewayID string `json:"gatewayId"`
		ChatID    string `json:"chatId"`
		UserID    string `json:"userId"`
		Username  string `json:"username"`
		Text      string `json:"text"`
		Command   string `json:"command"`
		Args      string `json:"args"`
	} `json:"payload"`
}

// templateData is what reply and greeting templates see:
// {{.username}}, {{.name}} (the username, or "there" without one),
// {{.userId}}, {{.chatId}}, {{.text}}, {{.command}}, {{.args}}.
func (e gatewayEvent) templateData() map[string]string {
	name := e.Payload.Username
	if name == "" {
		name = "there"
	}
	return map[string]string{"username": e.Payload.Username, "name": name, "userId": e.Payload.UserID,
		"chatId": e.Payload.ChatID, "text": e.Payload.Text, "command": e.Payload.Command, "args": e.Payload.Args}
}

// render executes a reply template over the event.
func render(src string, data map[string]string) (string, error) {
	t, err := parseTemplate(src)
	if err != nil {
		return "", err
	}
	// Generous (Slack takes 40,000 characters): the gateway refuses a text
	// longer than its channel takes, naming the limit, rather than this
	// cap failing first with a vaguer reason.
	w := &capWriter{max: 40000 * 4}
	if err := t.Execute(w, data); err != nil {
		return "", fmt.Errorf("render: %w", err)
	}
	return w.buf.String(), nil
}

// reply sends text to the event's chat through the gateway it came from
// and builds the execution's result.
func reply(ctx context.Context, send GatewaySender, ec plugin.ExecutionContext, ev gatewayEvent, text string, out map[string]any) plugin.ExecutionResult {
	if send == nil {
		return plugin.Failed("this node cannot send through gateways")
	}
	if ec.Trigger == plugin.TriggerStandalone && ec.Actor.System {
		// A queued standalone run acts as the system, without the caller's
		// gateway permissions; only a synchronous run (checked as the
		// caller) or a subscribed event may send.
		return plugin.Failed("a standalone run sends only when run synchronously")
	}
	if ev.Payload.ChatID == "" {
		return plugin.Failed("the event has no chat to answer in")
	}
	id, err := send(ctx, ec.Actor, ev.Payload.GatewayID, ev.Payload.ChatID, text, SendKey(ec, 0))
	if err != nil {
		return plugin.ExecutionResult{Error: "send: " + err.Error(), Metrics: plugin.Metrics{APICalls: 1}}
	}
	out["sendId"] = id
	return encode(out, 1)
}

func encode(out map[string]any, apiCalls int64) plugin.ExecutionResult {
	raw, err := json.Marshal(out)
	if err != nil {
		return plugin.Failed("encode output: " + err.Error())
	}
	return plugin.ExecutionResult{Success: true, Output: raw, Metrics: plugin.Metrics{APICalls: apiCalls}}
}

// eventInputGateways names the gateway an event input answers through.
func eventInputGateways(raw json.RawMessage) []plugin.ConfigRef {
	var ev gatewayEvent
	if json.Unmarshal(raw, &ev) != nil || ev.Payload.GatewayID == "" {
		return nil
	}
	return []plugin.ConfigRef{{Field: "input.payload.gatewayId", ID: ev.Payload.GatewayID}}
}

// InputGateways names the gateway the reply goes through.
func (AutoReply) InputGateways(raw json.RawMessage) []plugin.ConfigRef {
	return eventInputGateways(raw)
}

// InputGateways names the gateway the greeting goes through.
func (Welcome) InputGateways(raw json.RawMessage) []plugin.ConfigRef { return eventInputGateways(raw) }
