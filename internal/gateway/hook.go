package gateway

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/secret"
)

// The path token of a gateway's inbound URL is a credential (whoever holds
// it may post to the gateway, subject to the provider's signature), so it
// is stored sealed like the gateway's credentials: a database dump does
// not reveal it. A delivery finds its gateway by the id in the URL, opens
// the stored token and compares it in constant time.

// hookContext binds a sealed token to its gateway, and apart from the
// gateway's credentials.
func hookContext(id string) string { return "gateway-hook:" + id }

// sealHook seals a path token for gateway id.
func (s *Service) sealHook(id, token string) (enc, keyID string, err error) {
	return HookTokenStore(s.db).Seal(s.keys, id, []byte(token))
}

// openHook returns a gateway's path token. A row written before tokens were
// sealed still holds it in clear until SealHookTokens runs; such a row
// keeps working meanwhile.
func (s *Service) openHook(r *row) (string, error) {
	if r.hookEnc == "" {
		return r.hookPlain, nil
	}
	plain, err := HookTokenStore(s.db).Open(s.keys, r.ID, r.hookEnc)
	if err != nil {
		return "", apperr.Wrap(err, "open hook token")
	}
	return string(plain), nil
}

// HookTokenStore is the gateways' sealed inbound path tokens, for key
// rotation, the start-up key check and `switchboard keys`.
func HookTokenStore(d *db.DB) secret.Column {
	return secret.Column{DB: d, StoreName: "gateway inbound tokens", What: "gateway", Table: "gateways",
		Sealed: "hook_token_enc", KeyID: "hook_token_key_id", Present: "hook_token_enc <> ''", Context: hookContext}
}

// HookStore exposes the service's sealed inbound path tokens.
func (s *Service) HookStore() secret.Store { return HookTokenStore(s.db) }

// SealHookTokens seals the path tokens that rows written before tokens were
// sealed still hold in clear. Run it at start-up: it is idempotent and safe
// while other nodes run it too. The token values stay the same, so inbound
// URLs already registered with providers keep working.
func SealHookTokens(ctx context.Context, d *db.DB, kr *secret.Keyring) (int, error) {
	n, err := HookTokenStore(d).SealPlaintext(ctx, kr, "hook_token", 100)
	if err != nil {
		return n, fmt.Errorf("seal gateway inbound tokens: %w", err)
	}
	return n, nil
}

// HookRotation is the answer to a rotation: the gateway with its new
// inboundUrl, whether the provider was pointed at it, and otherwise what
// the owner must do.
type HookRotation struct {
	Gateway
	// Registered is true when the provider now delivers to the new URL.
	Registered bool `json:"registered"`
	// NextStep says what the owner must do for deliveries to resume, when
	// Registered is false.
	NextStep string `json:"nextStep,omitempty"`
}

// registersHook lists the providers whose API sets the delivery URL
// (Connect registers it there too); the others take it only in their
// console.
var registersHook = map[channel.Type]bool{channel.Telegram: true, channel.Discord: true}

// pasteHook tells the owner where a provider that cannot be told the URL
// by API takes it.
var pasteHook = map[channel.Type]string{
	channel.Slack:    "paste the new inboundUrl as the Request URL of your Slack app's Event Subscriptions (and Interactivity, if used)",
	channel.WhatsApp: "paste the new inboundUrl as the Callback URL of your app's WhatsApp webhook in the Meta developer console",
	channel.Webhook:  "give the new inboundUrl to the system that posts to this gateway",
}

// RotateHook gives a gateway a new inbound path token; the old inbound URL
// stops working at once. Where the provider lets us set the URL (Telegram's
// setWebhook, Discord's interactions endpoint) and the gateway is
// connected, the new URL is registered there; for Slack, WhatsApp and plain
// webhooks the owner must paste the new URL into the provider's console
// (the answer's nextStep says where). A failed registration leaves the
// gateway in ERROR with lastError, and connecting it again retries it.
func (s *Service) RotateHook(ctx context.Context, a actor.Actor, id string) (HookRotation, error) {
	if err := allow(a, actor.PermGatewayUpdate); err != nil {
		return HookRotation{}, err
	}
	if !ids.Valid(ids.Gateway, id) {
		return HookRotation{}, errNotFound
	}
	r, err := getRow(ctx, s.db.Read(), a.WorkspaceID(), id)
	if err != nil {
		return HookRotation{}, apperr.Wrap(err, "rotate inbound token")
	}
	token := newHookToken()
	enc, keyID, err := s.sealHook(r.ID, token)
	if err != nil {
		return HookRotation{}, apperr.Wrap(err, "rotate inbound token")
	}
	// Only a gateway the provider delivers to is re-registered; a
	// disconnected one registers its current URL when it connects.
	register := r.Status != Disconnected && registersHook[r.Type]
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		res, err := db.Scope(tx, r.workspaceID).ExecContext(ctx, `UPDATE gateways SET hook_token = '', hook_token_enc = $3,
			hook_token_key_id = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2`, r.ID, enc, keyID, db.Now())
		if err != nil {
			return fmt.Errorf("rotate inbound token of gateway %s: %w", r.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotFound
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "gateway.hook_rotated", Resource: "gateway", ResourceID: r.ID,
			Metadata: map[string]any{"type": r.Type, "reregister": register}})
	})
	if err != nil {
		return HookRotation{}, apperr.Wrap(err, "rotate inbound token")
	}
	out := HookRotation{}
	switch {
	case register:
		out.Registered = s.reregister(context.WithoutCancel(ctx), a, r, token)
		if !out.Registered {
			out.NextStep = "registering the new inboundUrl failed (see lastError); connect the gateway to retry"
		}
	case registersHook[r.Type]:
		out.NextStep = "connect the gateway to register the new inboundUrl"
	default:
		out.NextStep = pasteHook[r.Type]
	}
	if out.Gateway, err = s.Get(ctx, a, id); err != nil {
		return HookRotation{}, err
	}
	return out, nil
}

// reregister points the provider at the gateway's new inbound URL and
// reports whether it took it.
func (s *Service) reregister(ctx context.Context, a actor.Actor, r *row, token string) bool {
	creds, err := s.open(r)
	if err != nil {
		s.log.Warn("re-register gateway: credentials unreadable", "gatewayId", r.ID, "error", err)
		return false
	}
	ad, err := s.adapter(r.Type)
	if err != nil {
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, s.opt.ProviderTimeout)
	defer cancel()
	perr := s.register(pctx, r, ad, target(r, creds), s.inboundURL(r.ID, token))
	if perr == nil {
		return true
	}
	msg := scrub(perr.Error(), creds)
	s.log.Warn("re-register gateway after token rotation", "gatewayId", r.ID, "error", msg)
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := setStatus(ctx, tx, r, Error, "register new inbound URL: "+msg, db.Now()); err != nil {
			return err
		}
		if err := s.erroredTx(ctx, tx, r, "rotate-hook", failureKind(perr), "register new inbound URL: "+msg); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "gateway.errored", Resource: "gateway", ResourceID: r.ID,
			Status: audit.Failure, Metadata: map[string]any{"type": r.Type, "step": "rotate-hook", "failure": failureKind(perr)}})
	})
	if err != nil {
		s.log.Error("record failed re-registration", "gatewayId", r.ID, "error", err)
	}
	return false
}
