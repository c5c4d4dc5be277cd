package wasm

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/plugin"
)

// Limits of gateway_send (docs/plugins.md).
const (
	// MaxSends bounds the gateway_send calls of one execution.
	MaxSends = 10

	maxSendRequestBytes = 64 << 10
)

// sendCall is the document a module passes to gateway_send.
type sendCall struct {
	GatewayID string `json:"gatewayId"`
	ChatID    string `json:"chatId"`
	Text      string `json:"text"`
}

// hostGatewaySend: gateway_send(reqPtr, reqLen) → 0 once the message is
// queued on one of the installation's gateways (its gatewayIds). Delivery
// is the gateway's send job, retried; a message that cannot be queued stops
// the module with the reason.
func hostGatewaySend(ctx context.Context, m api.Module, reqPtr, reqLen uint32) int32 {
	const fn = "gateway_send"
	env := envOf(ctx)
	env.require(fn, CapGatewaySend)
	env.mu.Lock()
	env.sends++
	n := env.sends
	env.mu.Unlock()
	if n > MaxSends {
		env.refuse("host function %s.%s: at most %d messages per execution", hostModule, fn, MaxSends)
	}
	if reqLen > maxSendRequestBytes {
		env.refuse("host function %s.%s: malformed request: %d bytes; the limit is %d", hostModule, fn, reqLen, maxSendRequestBytes)
	}
	var c sendCall
	if err := decodeStrict(read(env, m, fn, reqPtr, reqLen), &c); err != nil {
		env.refuse("host function %s.%s: malformed request: %s", hostModule, fn, err)
	}
	if c.GatewayID == "" {
		env.refuse("host function %s.%s: malformed request: gatewayId is required", hostModule, fn)
	}
	if !contains(env.ec.GatewayIDs, c.GatewayID) {
		env.refuse("host function %s.%s: gateway %q is not one of this installation's gateways (its gatewayIds)", hostModule, fn, c.GatewayID)
	}
	if env.ec.Trigger == plugin.TriggerStandalone && env.ec.Actor.System {
		// A queued standalone run acts as the system, without the caller's
		// gateway permissions, as the reacting built-ins do.
		env.refuse("host function %s.%s: a standalone run sends only when run synchronously", hostModule, fn)
	}
	if env.send == nil {
		env.refuse("host function %s.%s: this node cannot send through gateways", hostModule, fn)
	}
	env.countCall()
	// The n-th message of an execution keeps its key when the execution
	// runs again, so a retried job does not send it twice.
	key := ""
	if env.ec.IdempotencyKey != "" {
		key = fmt.Sprintf("%s/%s/%d", env.ec.InstallationID, env.ec.IdempotencyKey, n)
	}
	if _, err := env.send(ctx, env.ec.Actor, c.GatewayID, c.ChatID, c.Text, key); err != nil {
		env.refuse("host function %s.%s: %s", hostModule, fn, publicMessage(err))
	}
	return 0
}

// publicMessage is what a user may read of a send's error: a domain
// error's message, never an internal cause.
func publicMessage(err error) string {
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Code != apperr.Internal {
		return ae.Message
	}
	return "the message could not be queued"
}
