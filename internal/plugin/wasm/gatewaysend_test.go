package wasm_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
)

// sentMessage is one call of a fakeSender.
type sentMessage struct {
	actor                   actor.Actor
	gatewayID, chatID, text string
}

// fakeSender stands in for gateway.Service.Send; err, when set, is what
// every call fails with.
type fakeSender struct {
	mu   sync.Mutex
	sent []sentMessage
	err  error
}

func (f *fakeSender) send(_ context.Context, a actor.Actor, gatewayID, chatID, text, _ string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	f.sent = append(f.sent, sentMessage{a, gatewayID, chatID, text})
	return "gws_fake", nil
}

func sendContext(gatewayIDs ...string) plugin.ExecutionContext {
	c := ec(actor.Free, wasm.CapGatewaySend)
	c.Trigger, c.GatewayIDs = plugin.TriggerEvent, gatewayIDs
	return c
}

func TestGatewaySend_QueuesThroughTheInstallationsGateways(t *testing.T) {
	t.Parallel()
	f := &fakeSender{}
	r := hostcallsRunner(t, wasm.Options{Send: f.send})
	res := runHostcalls(r, sendContext("gw_a", "gw_b"), nil, []string{
		`{"gatewayId":"gw_a","chatId":"555","text":"hello"}`,
		`{"gatewayId":"gw_b","text":"to the default chat"}`,
	})
	if !res.Success || !strings.Contains(string(res.Output), `"sent":2`) {
		t.Fatalf("run: %+v %s", res, res.Output)
	}
	want := []sentMessage{{sendContext().Actor, "gw_a", "555", "hello"}, {sendContext().Actor, "gw_b", "", "to the default chat"}}
	if len(f.sent) != 2 || f.sent[0] != want[0] || f.sent[1] != want[1] {
		t.Fatalf("sent %+v", f.sent)
	}
	if res.Metrics.APICalls != 2 {
		t.Errorf("apiCalls %d, want 2", res.Metrics.APICalls)
	}
}

func TestGatewaySend_RefusesWhatThePluginMayNotDo(t *testing.T) {
	t.Parallel()
	ok := `{"gatewayId":"gw_a","chatId":"1","text":"hi"}`
	many := make([]string, wasm.MaxSends+1)
	for i := range many {
		many[i] = ok
	}
	standalone := sendContext("gw_a")
	standalone.Trigger, standalone.Actor.System = plugin.TriggerStandalone, true
	ungranted := sendContext("gw_a")
	ungranted.Grants = []string{wasm.CapHTTP}
	for _, tc := range []struct {
		name    string
		c       plugin.ExecutionContext
		sendErr error
		noSend  bool
		docs    []string
		want    string
		maxSent int
	}{
		{name: "not granted", c: ungranted, docs: []string{ok},
			want: `switchboard.gateway_send needs permission "gateway.send", which this installation was not granted`},
		{name: "gateway not subscribed", c: sendContext("gw_b"), docs: []string{ok},
			want: `gateway "gw_a" is not one of this installation's gateways (its gatewayIds)`},
		{name: "no gateways at all", c: sendContext(), docs: []string{ok},
			want: `gateway "gw_a" is not one of this installation's gateways`},
		{name: "malformed json", c: sendContext("gw_a"), docs: []string{`{"gatewayId":`},
			want: "gateway_send: malformed request: not the JSON document expected"},
		{name: "unknown field", c: sendContext("gw_a"), docs: []string{`{"gatewayId":"gw_a","text":"x","html":"<b>"}`},
			want: `unknown field "html"`},
		{name: "no gateway id", c: sendContext("gw_a"), docs: []string{`{"text":"x"}`},
			want: "malformed request: gatewayId is required"},
		{name: "too many", c: sendContext("gw_a"), docs: many, maxSent: wasm.MaxSends,
			want: "at most 10 messages per execution"},
		{name: "queued standalone run", c: standalone, docs: []string{ok},
			want: "a standalone run sends only when run synchronously"},
		{name: "refused by the gateway", c: sendContext("gw_a"), docs: []string{ok},
			sendErr: apperr.New(apperr.Conflict, "gateway is DISCONNECTED; connect it before sending"),
			want:    "gateway_send: gateway is DISCONNECTED; connect it before sending"},
		{name: "internal error stays inside", c: sendContext("gw_a"), docs: []string{ok},
			sendErr: apperr.Wrap(errors.New("db exploded"), "send"),
			want:    "gateway_send: the message could not be queued"},
		{name: "no sender on this node", c: sendContext("gw_a"), docs: []string{ok}, noSend: true,
			want: "this node cannot send through gateways"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeSender{err: tc.sendErr}
			opt := wasm.Options{Send: f.send}
			if tc.noSend {
				opt.Send = nil
			}
			res := runHostcalls(hostcallsRunner(t, opt), tc.c, nil, tc.docs)
			if res.Success || !strings.Contains(res.Error, tc.want) {
				t.Fatalf("want a failure containing %q, got success=%v error=%q", tc.want, res.Success, res.Error)
			}
			if strings.Contains(res.Error, "db exploded") {
				t.Fatalf("internal cause leaked: %q", res.Error)
			}
			if len(f.sent) > tc.maxSent {
				t.Fatalf("sent %d messages, want at most %d", len(f.sent), tc.maxSent)
			}
		})
	}
}
