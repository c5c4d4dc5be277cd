package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/secret"
)

// Gateway is a gateway as the API shows it (the seed's SafeGateway): never
// with its credentials, only the names of the credential fields set.
type Gateway struct {
	ID             string            `json:"id"`
	Type           channel.Type      `json:"type"`
	Name           string            `json:"name"`
	Status         Status            `json:"status"`
	Config         map[string]any    `json:"config"`
	CredentialsSet []string          `json:"credentialsSet"`
	Identity       *channel.Identity `json:"identity,omitempty"`
	// InboundURL is where the provider must deliver events (set it in the
	// provider's console for Discord, Slack, WhatsApp and webhooks; connect
	// registers it with Telegram and Discord).
	InboundURL      string     `json:"inboundUrl"`
	UserID          string     `json:"userId"`
	OrganizationID  string     `json:"organizationId,omitempty"`
	LastConnectedAt *time.Time `json:"lastConnectedAt,omitempty"`
	LastErrorAt     *time.Time `json:"lastErrorAt,omitempty"`
	LastError       string     `json:"lastError,omitempty"`
	CreatedAt       time.Time  `json:"createdAt"`
	UpdatedAt       time.Time  `json:"updatedAt"`
	// Receive is how a Telegram gateway takes updates: "webhook" or
	// "polling" (config.receive, or by the public URL; see poll.go).
	Receive string `json:"receive,omitempty"`
}

// row is a stored gateway.
type row struct {
	Gateway
	workspaceID string
	credsEnc    string
	keyID       string
	// hookEnc is the sealed path token of the inbound URL; hookPlain the
	// token of a row not yet sealed (written before hook tokens were
	// sealed, sealed at the next start). See openHook.
	hookEnc      string
	hookPlain    string
	authFailures int
	plan         actor.Plan
}

const rowColumns = `g.id, g.workspace_id, g.user_id, g.organization_id, g.type, g.name, g.status,
	g.credentials_enc, g.credentials_key_id, g.config, g.hook_token, g.hook_token_enc, g.identity, g.auth_failures,
	g.last_connected_at, g.last_error_at, g.last_error, g.created_at, g.updated_at, COALESCE(o.plan, u.plan, 'FREE')`

const rowFrom = ` FROM gateways g LEFT JOIN organizations o ON o.id = g.organization_id LEFT JOIN users u ON u.id = g.user_id `

type scanner interface{ Scan(dest ...any) error }

func scanRow(sc scanner) (*row, error) {
	var r row
	var org, lastErr sql.NullString
	var cfg, ident string
	var connected, errAt sql.NullTime
	err := sc.Scan(&r.ID, &r.workspaceID, &r.UserID, &org, &r.Type, &r.Name, &r.Status,
		&r.credsEnc, &r.keyID, &cfg, &r.hookPlain, &r.hookEnc, &ident, &r.authFailures,
		&connected, &errAt, &lastErr, &r.CreatedAt, &r.UpdatedAt, &r.plan)
	if err != nil {
		return nil, err
	}
	r.OrganizationID, r.LastError = org.String, lastErr.String
	r.LastConnectedAt, r.LastErrorAt = ptrTime(connected.Time), ptrTime(errAt.Time)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	if err := json.Unmarshal([]byte(cfg), &r.Config); err != nil {
		return nil, fmt.Errorf("gateway %s config: %w", r.ID, err)
	}
	var id channel.Identity
	if err := json.Unmarshal([]byte(ident), &id); err == nil && (id.ID != "" || id.Name != "") {
		r.Identity = &id
	}
	return &r, nil
}

// getRow loads a gateway of the workspace; another workspace's answers
// NOT_FOUND.
func getRow(ctx context.Context, q db.Querier, workspaceID, id string) (*row, error) {
	r, err := scanRow(db.Scope(q, workspaceID).QueryRowContext(ctx,
		`SELECT `+rowColumns+rowFrom+`WHERE g.workspace_id = $1 AND g.id = $2`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load gateway %s: %w", id, err)
	}
	return r, nil
}

// hookWorkspace is the one lookup of a gateway without a workspace: the
// public inbound endpoint knows only the gateway id (and its path token,
// checked by the caller). It returns just the owning workspace; everything
// after it goes through the scoped queries.
func hookWorkspace(ctx context.Context, q db.Querier, id string) (string, error) {
	var ws string
	err := q.QueryRowContext(ctx, `SELECT workspace_id FROM gateways WHERE id = $1`, id).Scan(&ws)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNotFound
	}
	if err != nil {
		return "", fmt.Errorf("route inbound %s: %w", id, err)
	}
	return ws, nil
}

// insertRow stores a new gateway. An INSERT has no WHERE to scope; the
// comment carries the scope marker and db.Scope still binds the workspace.
func insertRow(ctx context.Context, tx *db.Tx, r *row) error {
	cfg, err := json.Marshal(r.Config)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	hookKeyID, err := secret.KeyID(r.hookEnc)
	if err != nil {
		return fmt.Errorf("gateway %s hook token: %w", r.ID, err)
	}
	_, err = db.Scope(tx, r.workspaceID).ExecContext(ctx, `INSERT INTO gateways (workspace_id, id, user_id, organization_id, type, name,
		status, credentials_enc, credentials_key_id, config, hook_token, hook_token_enc, hook_token_key_id, identity,
		auth_failures, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', $11, $12, '{}', 0, $13, $13) /* workspace_id = $1 */`,
		r.ID, r.UserID, nullable(r.OrganizationID), string(r.Type), r.Name, string(r.Status), r.credsEnc, r.keyID,
		string(cfg), r.hookEnc, hookKeyID, r.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert gateway: %w", err)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// countGateways counts the workspace's gateways.
func countGateways(ctx context.Context, q db.Querier, workspaceID string) (int64, error) {
	var n int64
	err := db.Scope(q, workspaceID).QueryRowContext(ctx, `SELECT COUNT(*) FROM gateways WHERE workspace_id = $1`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count gateways: %w", err)
	}
	return n, nil
}

// seal encrypts credentials for one gateway; the gateway id is the
// context, so sealed values cannot be moved between gateways.
func (s *Service) seal(id string, creds map[string]string) (enc, keyID string, err error) {
	plain, err := json.Marshal(creds)
	if err != nil {
		return "", "", fmt.Errorf("encode credentials: %w", err)
	}
	enc, err = s.keys.Seal(plain, sealContext(id))
	if err != nil {
		return "", "", fmt.Errorf("seal gateway %s: %w", id, err)
	}
	keyID, err = secret.KeyID(enc)
	return enc, keyID, err
}

func sealContext(id string) string { return "gateway:" + id }

// open decrypts a gateway's credentials.
func (s *Service) open(r *row) (map[string]string, error) {
	plain, err := s.keys.Open(r.credsEnc, sealContext(r.ID))
	if err != nil {
		return nil, apperr.Wrap(fmt.Errorf("open credentials of gateway %s: %w", r.ID, err), "open credentials")
	}
	var creds map[string]string
	if err := json.Unmarshal(plain, &creds); err != nil {
		return nil, apperr.Wrap(fmt.Errorf("decode credentials of gateway %s: %w", r.ID, err), "open credentials")
	}
	return creds, nil
}

// view is the API form of a row: the owner sees the whole inbound URL,
// its token opened.
func (s *Service) view(r *row, creds map[string]string) (Gateway, error) {
	token, err := s.openHook(r)
	if err != nil {
		return Gateway{}, err
	}
	g := r.Gateway
	g.InboundURL = s.inboundURL(r.ID, token)
	g.CredentialsSet = credentialNames(r.Type, creds)
	g.Receive = s.Receive(g)
	if g.Config == nil {
		g.Config = map[string]any{}
	}
	return g, nil
}

// credentialNames lists the user-supplied credential fields (generated
// ones such as Telegram's webhook secret are internal).
func credentialNames(t channel.Type, creds map[string]string) []string {
	names := map[channel.Type][]string{
		channel.Telegram: {"botToken"}, channel.Discord: {"botToken"}, channel.Slack: {"botToken", "signingSecret"},
		channel.WhatsApp: {"accessToken", "appSecret", "verifyToken"}, channel.Webhook: {"signingSecret"},
	}[t]
	out := []string{}
	for _, n := range names {
		if creds == nil || creds[n] != "" {
			out = append(out, n)
		}
	}
	return out
}

// setStatus records a status change and, for failures, the error.
func setStatus(ctx context.Context, tx *db.Tx, r *row, st Status, lastErr string, now time.Time) error {
	q := db.Scope(tx, r.workspaceID)
	var err error
	switch {
	case st == Connected:
		_, err = q.ExecContext(ctx, `UPDATE gateways SET status = $3, last_connected_at = $4, auth_failures = 0, updated_at = $4
			WHERE workspace_id = $1 AND id = $2`, r.ID, string(st), now)
	case lastErr != "":
		_, err = q.ExecContext(ctx, `UPDATE gateways SET status = $3, last_error = $4, last_error_at = $5, updated_at = $5
			WHERE workspace_id = $1 AND id = $2`, r.ID, string(st), lastErr, now)
	default:
		_, err = q.ExecContext(ctx, `UPDATE gateways SET status = $3, updated_at = $4 WHERE workspace_id = $1 AND id = $2`, r.ID, string(st), now)
	}
	if err != nil {
		return fmt.Errorf("set gateway %s %s: %w", r.ID, st, err)
	}
	return nil
}
