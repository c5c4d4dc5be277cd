package workflow

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/secret"
)

// The path token of a workflow's webhook URL is its only credential, so it
// is stored sealed with the keyring: a database dump does not reveal it. A
// call finds its workflow by the id in the URL, opens the stored token and
// compares it in constant time.

// hookContext binds a sealed token to its workflow.
func hookContext(id string) string { return "workflow-hook:" + id }

func (s *Service) sealHook(id, token string) (enc, keyID string, err error) {
	return HookTokenStore(s.DB).Seal(s.Keys, id, []byte(token))
}

// openHook returns a workflow's webhook token. A row written before tokens
// were sealed still holds it in clear until SealHookTokens runs; such a
// row keeps working meanwhile.
func (s *Service) openHook(w Workflow) (string, error) {
	if w.hookEnc == "" {
		return w.hookPlain, nil
	}
	plain, err := HookTokenStore(s.DB).Open(s.Keys, w.ID, w.hookEnc)
	if err != nil {
		return "", apperr.Wrap(err, "open webhook token")
	}
	return string(plain), nil
}

// HookTokenStore is the workflows' sealed webhook tokens, for key
// rotation, the start-up key check and `switchboard keys`.
func HookTokenStore(d *db.DB) secret.Column {
	return secret.Column{DB: d, StoreName: "workflow webhook tokens", What: "workflow", Table: "workflows",
		Sealed: "hook_token_enc", KeyID: "hook_token_key_id", Present: "hook_token_enc <> ''", Context: hookContext}
}

// HookStore exposes the service's sealed webhook tokens.
func (s *Service) HookStore() secret.Store { return HookTokenStore(s.DB) }

// SealHookTokens seals the webhook tokens that rows written before tokens
// were sealed still hold in clear (deleted workflows' too). Run it at
// start-up: it is idempotent and safe while other nodes run it too. The
// token values stay the same, so webhook URLs already handed out keep
// working.
func SealHookTokens(ctx context.Context, d *db.DB, kr *secret.Keyring) (int, error) {
	n, err := HookTokenStore(d).SealPlaintext(ctx, kr, "hook_token", 100)
	if err != nil {
		return n, fmt.Errorf("seal workflow webhook tokens: %w", err)
	}
	return n, nil
}

// RotateHook gives a webhook-triggered workflow a new webhook token; the
// old URL answers NOT_FOUND from then on. Callers must be given the new
// hookUrl. A workflow with another trigger has no webhook: CONFLICT.
func (s *Service) RotateHook(ctx context.Context, a actor.Actor, id string) (Workflow, error) {
	if err := allow(a, actor.PermWorkflowUpdate); err != nil {
		return Workflow{}, err
	}
	if !ids.Valid(ids.Workflow, id) {
		return Workflow{}, errNotFound
	}
	ws := a.WorkspaceID()
	enc, keyID, err := s.sealHook(id, newToken())
	if err != nil {
		return Workflow{}, apperr.Wrap(err, "rotate webhook token")
	}
	err = s.DB.Tx(ctx, func(tx *db.Tx) error {
		w, err := s.get(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		if w.TriggerType != string(TriggerWebhook) {
			return apperr.New(apperr.Conflict, "the workflow's trigger is %s: it has no webhook to rotate", w.TriggerType)
		}
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE workflows SET hook_token = '', hook_token_enc = $3,
			hook_token_key_id = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2`, id, enc, keyID, s.now()); err != nil {
			return fmt.Errorf("rotate webhook token of workflow %s: %w", id, err)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "workflow.webhook_rotated", Resource: "workflow", ResourceID: id,
			Metadata: map[string]any{"version": w.Version}})
	})
	if err != nil {
		return Workflow{}, apperr.Wrap(err, "rotate webhook token")
	}
	return s.get(ctx, s.DB.Read(), ws, id)
}
