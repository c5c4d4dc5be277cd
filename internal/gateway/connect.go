package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/ids"
)

func target(r *row, creds map[string]string) channel.Target {
	return channel.Target{ID: r.ID, Credentials: creds, Config: r.Config}
}

// Connect verifies the credentials with the provider and registers the
// inbound URL. The gateway ends CONNECTED, or ERROR with lastError; either
// way the call succeeds and returns the gateway. Provider calls run outside
// any transaction.
func (s *Service) Connect(ctx context.Context, a actor.Actor, id string) (Gateway, error) {
	r, creds, ad, err := s.loadForUse(ctx, a, id, actor.PermGatewayUpdate)
	if err != nil {
		return Gateway{}, err
	}
	if err := s.db.Tx(ctx, func(tx *db.Tx) error { return setStatus(ctx, tx, r, Connecting, "", db.Now()) }); err != nil {
		return Gateway{}, apperr.Wrap(err, "connect gateway")
	}
	pctx, cancel := context.WithTimeout(ctx, s.opt.ProviderTimeout)
	defer cancel()
	token, err := s.openHook(r)
	if err != nil {
		return Gateway{}, err
	}
	t := target(r, creds)
	ident, perr := ad.Verify(pctx, t)
	if perr == nil {
		perr = s.register(pctx, r, ad, t, s.inboundURL(r.ID, token))
	}
	err = s.db.Tx(context.WithoutCancel(ctx), func(tx *db.Tx) error {
		now := db.Now()
		if perr != nil {
			msg := scrub(perr.Error(), creds)
			if err := setStatus(ctx, tx, r, Error, msg, now); err != nil {
				return err
			}
			if err := s.erroredTx(ctx, tx, r, "connect", failureKind(perr), msg); err != nil {
				return err
			}
			return audit.Record(ctx, tx, a, audit.Entry{Action: "gateway.errored", Resource: "gateway", ResourceID: r.ID,
				Status: audit.Failure, Metadata: map[string]any{"type": r.Type, "step": "connect", "failure": failureKind(perr)}})
		}
		b, _ := json.Marshal(ident)
		if _, err := db.Scope(tx, r.workspaceID).ExecContext(ctx, `UPDATE gateways SET status = $3, identity = $4,
			last_connected_at = $5, auth_failures = 0, updated_at = $5 WHERE workspace_id = $1 AND id = $2`,
			r.ID, string(Connected), string(b), now); err != nil {
			return fmt.Errorf("mark gateway %s connected: %w", r.ID, err)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "gateway.connected", Resource: "gateway", ResourceID: r.ID,
			Metadata: map[string]any{"type": r.Type, "identity": ident.Name}})
	})
	if err != nil {
		return Gateway{}, apperr.Wrap(err, "connect gateway")
	}
	return s.Get(ctx, a, id)
}

// Disconnect stops inbound delivery where the provider allows it (best
// effort) and marks the gateway DISCONNECTED; inbound requests are refused
// from then on.
func (s *Service) Disconnect(ctx context.Context, a actor.Actor, id string) (Gateway, error) {
	r, _, _, err := s.loadForUse(ctx, a, id, actor.PermGatewayUpdate)
	if err != nil {
		return Gateway{}, err
	}
	s.unregister(ctx, r)
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := setStatus(ctx, tx, r, Disconnected, "", db.Now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "gateway.disconnected", Resource: "gateway", ResourceID: r.ID,
			Metadata: map[string]any{"type": r.Type}})
	})
	if err != nil {
		return Gateway{}, apperr.Wrap(err, "disconnect gateway")
	}
	return s.Get(ctx, a, id)
}

// unregister asks the provider to stop delivering; failures are logged,
// not fatal (the gateway refuses inbound once disconnected anyway).
func (s *Service) unregister(ctx context.Context, r *row) {
	creds, err := s.open(r)
	if err != nil {
		s.log.Warn("unregister gateway: credentials unreadable", "gatewayId", r.ID, "error", err)
		return
	}
	ad, err := s.adapter(r.Type)
	if err != nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, s.opt.ProviderTimeout)
	defer cancel()
	if err := ad.Unregister(pctx, target(r, creds)); err != nil {
		s.log.Warn("unregister gateway", "gatewayId", r.ID, "error", scrub(err.Error(), creds))
	}
}

// loadForUse loads a gateway, its opened credentials and its adapter.
func (s *Service) loadForUse(ctx context.Context, a actor.Actor, id string, p actor.Permission) (*row, map[string]string, channel.Adapter, error) {
	if err := allow(a, p); err != nil {
		return nil, nil, nil, err
	}
	if !ids.Valid(ids.Gateway, id) {
		return nil, nil, nil, errNotFound
	}
	r, err := getRow(ctx, s.db.Read(), a.WorkspaceID(), id)
	if err != nil {
		return nil, nil, nil, apperr.Wrap(err, "load gateway")
	}
	creds, err := s.open(r)
	if err != nil {
		return nil, nil, nil, err
	}
	ad, err := s.adapter(r.Type)
	if err != nil {
		return nil, nil, nil, apperr.Wrap(err, "load gateway")
	}
	return r, creds, ad, nil
}

// TestResult is the outcome of a test message.
type TestResult struct {
	Delivered         bool   `json:"delivered"`
	ProviderMessageID string `json:"providerMessageId,omitempty"`
	Error             string `json:"error,omitempty"`
	Status            Status `json:"status"`
}

// TestMessage is the text of a test message.
const TestMessage = "Test message from Switchboard: this gateway can send."

// Test sends a test message at once (not through the job queue) to chatID,
// or to config.defaultChatId. A failure is reported in the result and
// recorded like any failed send.
func (s *Service) Test(ctx context.Context, a actor.Actor, id, chatID string) (TestResult, error) {
	r, creds, ad, err := s.loadForUse(ctx, a, id, actor.PermGatewayUpdate)
	if err != nil {
		return TestResult{}, err
	}
	if chatID == "" {
		chatID = r.ConfigString("defaultChatId")
	}
	if chatID == "" && r.Type != channel.Webhook {
		return TestResult{}, apperr.Invalid(apperr.FieldError{Field: "chatId", Message: "is required (or set config.defaultChatId)"})
	}
	if r.Status == Disconnected {
		return TestResult{}, apperr.New(apperr.Conflict, "gateway is not connected; connect it first")
	}
	pctx, cancel := context.WithTimeout(ctx, s.opt.ProviderTimeout)
	defer cancel()
	sent, perr := ad.Send(pctx, target(r, creds), channel.Message{ID: ids.New(ids.GatewaySend), ChatID: chatID, Text: TestMessage})
	if perr != nil {
		st, err := s.recordFailure(context.WithoutCancel(ctx), a, r, perr, creds)
		if err != nil {
			return TestResult{}, apperr.Wrap(err, "test gateway")
		}
		return TestResult{Error: scrub(perr.Error(), creds), Status: st}, nil
	}
	if err := s.recordSuccess(context.WithoutCancel(ctx), r); err != nil {
		return TestResult{}, apperr.Wrap(err, "test gateway")
	}
	return TestResult{Delivered: true, ProviderMessageID: sent.ProviderMessageID, Status: r.Status}, nil
}

// ConfigString returns a string setting of the gateway's config.
func (g Gateway) ConfigString(key string) string {
	v, _ := g.Config[key].(string)
	return v
}

func failureKind(err error) string {
	var se *channel.SendError
	if errors.As(err, &se) {
		return se.Kind.String()
	}
	return "error"
}

// recordFailure stores lastError; an authentication failure counts toward
// ERROR, and the AuthFailuresBeforeError-th in a row flips the gateway to
// ERROR (audited). It returns the gateway's status after the failure.
func (s *Service) recordFailure(ctx context.Context, a actor.Actor, r *row, perr error, creds map[string]string) (Status, error) {
	msg := scrub(perr.Error(), creds)
	auth := failureKind(perr) == channel.Auth.String()
	st := r.Status
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		inc := 0
		if auth {
			inc = 1
		}
		var n int
		var cur string
		err := db.Scope(tx, r.workspaceID).QueryRowContext(ctx, `UPDATE gateways SET auth_failures = auth_failures + $3,
			last_error = $4, last_error_at = $5, updated_at = $5 WHERE workspace_id = $1 AND id = $2
			RETURNING auth_failures, status`, r.ID, inc, msg, now).Scan(&n, &cur)
		if err != nil {
			return fmt.Errorf("record failure of gateway %s: %w", r.ID, err)
		}
		st = Status(cur)
		if !auth || n < s.opt.AuthFailuresBeforeError || st == Error {
			return nil
		}
		if err := setStatus(ctx, tx, r, Error, msg, now); err != nil {
			return err
		}
		st = Error
		if err := s.erroredTx(ctx, tx, r, "send", "auth", msg); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "gateway.errored", Resource: "gateway", ResourceID: r.ID,
			Status: audit.Failure, Metadata: map[string]any{"type": r.Type, "step": "send", "failure": "auth", "authFailures": n}})
	})
	return st, err
}

// recordSuccess clears the authentication failure count; a gateway in
// ERROR whose credentials work again returns to CONNECTED.
func (s *Service) recordSuccess(ctx context.Context, r *row) error {
	if r.authFailures == 0 && r.Status != Error {
		return nil
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error { return s.recordSuccessTx(ctx, tx, r) })
}
