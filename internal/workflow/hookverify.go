package workflow

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/events"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/secret"
)

// Verified webhooks in: a webhook trigger may require each call to be
// signed with a secret the workflow holds. The definition (readable,
// versioned) names only the scheme; the secret is sealed in
// workflow_hook_secrets, set through SetHookSecret and shown once.

// Signature schemes of a webhook trigger's verify.
const (
	VerifyStandardWebhooks = "standard-webhooks"
	VerifyGitHub           = "github"
	VerifyHeader           = "header"
)

// GitHubSignatureHeader carries GitHub's "sha256=<hex HMAC of the body>".
const GitHubSignatureHeader = "X-Hub-Signature-256"

// HookVerify is a webhook trigger's signature requirement.
type HookVerify struct {
	// Scheme is standard-webhooks (webhook-id/-timestamp/-signature,
	// timestamps within 5 minutes), github (X-Hub-Signature-256) or header
	// (the secret itself in Header, compared in constant time).
	Scheme string `json:"scheme"`
	// Header names the header of the header scheme.
	Header string `json:"header,omitempty"`
	// Secret is refused: secrets do not belong in definitions.
	Secret string `json:"secret,omitempty"`
}

func compileVerify(t Trigger, f string, p *problems) {
	v := t.Verify
	if v == nil {
		return
	}
	f += ".verify"
	if t.Type != TriggerWebhook {
		p.add(f, "applies only to webhook triggers")
		return
	}
	if v.Secret != "" {
		p.add(f+".secret", "must not be in the definition, which is readable and versioned; set it with PUT /api/v1/workflows/{id}/webhook-secret")
	}
	switch v.Scheme {
	case VerifyStandardWebhooks, VerifyGitHub:
		if v.Header != "" {
			p.add(f+".header", "applies only to the header scheme")
		}
	case VerifyHeader:
		if v.Header == "" {
			p.add(f+".header", "is required for the header scheme")
		} else if msg := checkHeaderName(v.Header); msg != "" {
			p.add(f+".header", "%s", msg)
		}
	default:
		p.add(f+".scheme", `must be "standard-webhooks", "github" or "header"`)
	}
}

// checkHeaderName accepts an RFC 9110 token of at most 100 characters.
func checkHeaderName(h string) string {
	if len(h) > 100 {
		return "must be at most 100 characters"
	}
	if h == "" || strings.IndexFunc(h, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c))
	}) >= 0 {
		return fmt.Sprintf("%q is not a header name", h)
	}
	return ""
}

// HookSecretStore is the workflows' sealed webhook secrets, for key
// rotation, the start-up key check and `switchboard keys`.
func HookSecretStore(d *db.DB) secret.Column {
	return secret.Column{DB: d, StoreName: "workflow webhook secrets", What: "workflow", Table: "workflow_hook_secrets",
		Sealed: "secret_sealed", KeyID: "secret_key_id", Context: func(id string) string { return "workflow-hook-secret:" + id }}
}

// HookSecretInput sets a webhook's secret; empty generates one.
type HookSecretInput struct {
	// Secret is the shared secret (16–512 characters), for instance the
	// one a provider such as GitHub was given. Empty: a fresh whsec_
	// secret is generated.
	Secret string `json:"secret,omitempty"`
}

// HookSecret is a webhook's secret, answered only when it is set.
type HookSecret struct {
	WorkflowID string `json:"workflowId"`
	Secret     string `json:"secret"`
}

// SetHookSecret sets (or replaces) the secret a webhook workflow verifies
// calls with and returns it, shown this once. A workflow with another
// trigger is CONFLICT.
func (s *Service) SetHookSecret(ctx context.Context, a actor.Actor, id string, in HookSecretInput) (HookSecret, error) {
	if err := allow(a, actor.PermWorkflowUpdate); err != nil {
		return HookSecret{}, err
	}
	if !ids.Valid(ids.Workflow, id) {
		return HookSecret{}, errNotFound
	}
	plain := in.Secret
	switch {
	case plain == "":
		var err error
		if plain, err = events.NewSecret(); err != nil {
			return HookSecret{}, apperr.Wrap(err, "set webhook secret")
		}
	case len(plain) < 16 || len(plain) > 512:
		return HookSecret{}, apperr.Invalid(apperr.FieldError{Field: "secret", Message: "must be 16 to 512 characters (or empty to generate one)"})
	case strings.TrimSpace(plain) != plain:
		return HookSecret{}, apperr.Invalid(apperr.FieldError{Field: "secret", Message: "must not start or end with white space"})
	}
	enc, keyID, err := HookSecretStore(s.DB).Seal(s.Keys, id, []byte(plain))
	if err != nil {
		return HookSecret{}, apperr.Wrap(err, "set webhook secret")
	}
	ws := a.WorkspaceID()
	err = s.DB.Tx(ctx, func(tx *db.Tx) error {
		w, err := s.get(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		if w.TriggerType != string(TriggerWebhook) {
			return apperr.New(apperr.Conflict, "the workflow's trigger is %s: it has no webhook", w.TriggerType)
		}
		now := s.now()
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO workflow_hook_secrets (workspace_id, id, secret_sealed, secret_key_id,
			created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO UPDATE SET secret_sealed = excluded.secret_sealed,
			secret_key_id = excluded.secret_key_id, updated_at = excluded.updated_at WHERE workflow_hook_secrets.workspace_id = $1`,
			id, enc, keyID, now); err != nil {
			return fmt.Errorf("store webhook secret: %w", err)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "workflow.webhook_secret_set", Resource: "workflow", ResourceID: id,
			Metadata: map[string]any{"generated": in.Secret == ""}})
	})
	if err != nil {
		return HookSecret{}, apperr.Wrap(err, "set webhook secret")
	}
	return HookSecret{WorkflowID: id, Secret: plain}, nil
}

// DeleteHookSecret removes a webhook's secret: a trigger that requires a
// signature then refuses every call until a new one is set.
func (s *Service) DeleteHookSecret(ctx context.Context, a actor.Actor, id string) error {
	if err := allow(a, actor.PermWorkflowUpdate); err != nil {
		return err
	}
	if !ids.Valid(ids.Workflow, id) {
		return errNotFound
	}
	ws := a.WorkspaceID()
	err := s.DB.Tx(ctx, func(tx *db.Tx) error {
		if _, err := s.get(ctx, tx, ws, id); err != nil {
			return err
		}
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `DELETE FROM workflow_hook_secrets WHERE workspace_id = $1 AND id = $2`, id); err != nil {
			return fmt.Errorf("delete webhook secret: %w", err)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "workflow.webhook_secret_deleted", Resource: "workflow", ResourceID: id})
	})
	return apperr.Wrap(err, "delete webhook secret")
}

// verifyHook checks a webhook call against its trigger's verify. A call
// that fails is UNAUTHORIZED and starts nothing. The header scheme's
// header is taken out of the run's input: it is the secret itself.
func (s *Service) verifyHook(ctx context.Context, ws, id string, v *HookVerify, req *HookRequest) error {
	if v == nil {
		return nil
	}
	var enc string
	err := db.Scope(s.DB.Read(), ws).QueryRowContext(ctx, `SELECT secret_sealed FROM workflow_hook_secrets
		WHERE workspace_id = $1 AND id = $2`, id).Scan(&enc)
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.New(apperr.Unauthorized, "this webhook requires a signature and has no secret set yet")
	}
	if err != nil {
		return apperr.Wrap(err, "webhook")
	}
	plain, err := HookSecretStore(s.DB).Open(s.Keys, id, enc)
	if err != nil {
		return apperr.Wrap(err, "webhook")
	}
	h := req.Header
	if h == nil {
		h = http.Header{}
	}
	var why string
	switch v.Scheme {
	case VerifyStandardWebhooks:
		key, err := events.SecretKey(string(plain))
		if err != nil {
			key = plain // a secret set by hand in another form is used as is
		}
		if err := events.Verify(key, h.Get(events.HeaderID), h.Get(events.HeaderTimestamp), h.Get(events.HeaderSignature),
			req.RawBody, s.now()); err != nil {
			why = err.Error()
		}
	case VerifyGitHub:
		why = verifyGitHub(plain, h.Get(GitHubSignatureHeader), req.RawBody)
	case VerifyHeader:
		got := h.Get(v.Header)
		delete(req.Headers, strings.ToLower(v.Header))
		if got == "" {
			why = fmt.Sprintf("the %s header is required", v.Header)
		} else if subtle.ConstantTimeCompare([]byte(got), plain) != 1 {
			why = fmt.Sprintf("the %s header does not match the secret", v.Header)
		}
	default:
		why = "the trigger's verify scheme is unknown"
	}
	if why != "" {
		return apperr.New(apperr.Unauthorized, "webhook signature refused: %s", why)
	}
	return nil
}

// verifyGitHub checks "sha256=<hex HMAC-SHA256 of the body>" as GitHub
// documents it, and returns why it fails ("" when it holds).
func verifyGitHub(secret []byte, header string, body []byte) string {
	if header == "" {
		return "the " + GitHubSignatureHeader + " header is required"
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil {
		return GitHubSignatureHeader + ` is not "sha256=<hex>"`
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return GitHubSignatureHeader + " does not match the body"
	}
	return ""
}

// dedupes reports whether deliveries to the trigger carry a key that
// makes repeats start one run (replayKey).
func (t Trigger) dedupes() bool {
	return t.DedupeHeader != "" || (t.Verify != nil && (t.Verify.Scheme == VerifyStandardWebhooks || t.Verify.Scheme == VerifyGitHub))
}

// replayKey is the run key of a webhook delivery: by the trigger's
// dedupeHeader when the request carries it; otherwise, for a signed
// webhook, by what its signature covers, so that a captured delivery
// sent again starts no second run. Standard Webhooks signs its
// webhook-id (and a replay after the 5-minute window is refused
// outright); GitHub signs only the body and has no timestamp, so its
// signature, a hash of the body, is the key: X-GitHub-Delivery could be
// changed by whoever replays it. A GitHub redelivery is the same body and
// so answers with the first run too.
func (t Trigger) replayKey(req HookRequest) string {
	if h := t.DedupeHeader; h != "" {
		if v, ok := req.Headers[strings.ToLower(h)].(string); ok && v != "" {
			return deliveryKey(h, v)
		}
	}
	if t.Verify == nil || req.Header == nil {
		return ""
	}
	var h string
	switch t.Verify.Scheme {
	case VerifyStandardWebhooks:
		h = events.HeaderID
	case VerifyGitHub:
		h = GitHubSignatureHeader
	default:
		return ""
	}
	if v := req.Header.Get(h); v != "" {
		return deliveryKey(h, v)
	}
	return ""
}
