// Package install manages a workspace's installed plugins (the seed's
// userPlugins): installing built-in or approved marketplace plugins within
// the plan's plugin limit, configuring, granting capabilities, enabling,
// upgrading and uninstalling them, and executing them — synchronously in the
// request or asynchronously as a River job — with every execution's result
// and metrics kept as history.
package install

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/market"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/secret"
)

// Installation is a plugin installed in a workspace.
type Installation struct {
	ID         string          `json:"id"`
	Plugin     string          `json:"plugin"`
	Version    string          `json:"version"`
	Kind       market.Kind     `json:"kind"`
	Config     json.RawMessage `json:"config"`
	Grants     []string        `json:"grants"`
	GatewayIDs []string        `json:"gatewayIds"`
	Enabled    bool            `json:"enabled"`
	// SecretNames names the installation's write-only secrets; their
	// values are never returned.
	SecretNames    []string  `json:"secretNames"`
	UserID         string    `json:"userId"`
	OrganizationID string    `json:"organizationId,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
	versionID      string
}

// GatewayCheck reports whether a gateway id names a gateway of the actor's
// workspace (NOT_FOUND otherwise); the gateway service provides it.
type GatewayCheck func(ctx context.Context, a actor.Actor, id string) error

// Service manages installations and executions.
type Service struct {
	db       *db.DB
	market   *market.Service
	runner   *jobs.Runner
	log      *slog.Logger
	gateways GatewayCheck
	meter    Meter
	// onUninstall clean up what other packages keep per installation.
	onUninstall []UninstallHook
	keys        *secret.Keyring
	// slots wakes executions waiting for a concurrency slot; slotWait is
	// how long a synchronous one waits (slots.go).
	slots    slotSignal
	slotWait atomic.Int64
}

// New returns the installation service. runner may be nil (no async
// executions); gateways may be nil (gateway ids are then only checked for
// form).
func New(d *db.DB, m *market.Service, runner *jobs.Runner, gateways GatewayCheck, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: d, market: m, runner: runner, gateways: gateways, log: log}
}

var errNotFound = apperr.New(apperr.NotFound, "installation not found")

func allow(a actor.Actor, p actor.Permission) error {
	if !a.Can(p) {
		return apperr.New(apperr.Forbidden, "you lack the permission %s", p)
	}
	return nil
}

const columns = `id, plugin_slug, version, version_id, config, grants, gateway_ids, enabled, secret_names, user_id, organization_id, created_at, updated_at`

func scan(r interface{ Scan(...any) error }) (Installation, error) {
	var in Installation
	var versionID, orgID sql.NullString
	var cfg, grants, gws, names string
	if err := r.Scan(&in.ID, &in.Plugin, &in.Version, &versionID, &cfg, &grants, &gws, &in.Enabled, &names, &in.UserID, &orgID,
		&in.CreatedAt, &in.UpdatedAt); err != nil {
		return Installation{}, err
	}
	in.versionID, in.OrganizationID = versionID.String, orgID.String
	in.Kind = market.KindBuiltin
	if in.versionID != "" {
		in.Kind = market.KindWasm
	}
	in.Config = json.RawMessage(cfg)
	if err := json.Unmarshal([]byte(grants), &in.Grants); err != nil {
		return Installation{}, fmt.Errorf("decode grants: %w", err)
	}
	if err := json.Unmarshal([]byte(gws), &in.GatewayIDs); err != nil {
		return Installation{}, fmt.Errorf("decode gateway ids: %w", err)
	}
	if err := json.Unmarshal([]byte(names), &in.SecretNames); err != nil {
		return Installation{}, fmt.Errorf("decode secret names: %w", err)
	}
	if in.SecretNames == nil {
		in.SecretNames = []string{}
	}
	in.CreatedAt, in.UpdatedAt = in.CreatedAt.UTC(), in.UpdatedAt.UTC()
	return in, nil
}

func get(ctx context.Context, q db.Querier, ws, id string) (Installation, error) {
	if !ids.Valid(ids.Installation, id) {
		return Installation{}, errNotFound
	}
	in, err := scan(db.Scope(q, ws).QueryRowContext(ctx, `SELECT `+columns+` FROM plugin_installations WHERE workspace_id = $1 AND id = $2`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Installation{}, errNotFound
	}
	if err != nil {
		return Installation{}, fmt.Errorf("get installation %s: %w", id, err)
	}
	return in, nil
}

// InstallInput installs a plugin. Version defaults to the latest approved
// one; Grants are capabilities of a sandboxed plugin's manifest the
// installer allows (default none). Secrets are write-only values sealed
// with the installation (see secrets.go); only built-ins see them.
type InstallInput struct {
	Plugin     string             `json:"plugin"`
	Version    string             `json:"version,omitempty"`
	Config     json.RawMessage    `json:"config,omitempty"`
	Grants     []string           `json:"grants,omitempty"`
	GatewayIDs []string           `json:"gatewayIds,omitempty"`
	Secrets    map[string]*string `json:"secrets,omitempty"`
}

// IsSandboxed reports whether slug is a marketplace (WebAssembly) plugin
// rather than a built-in, so transport can gate it behind a feature flag.
func (s *Service) IsSandboxed(slug string) bool { return !s.market.IsBuiltin(slug) }

func (s *Service) checkSettings(ctx context.Context, a actor.Actor, res market.Resolved, cfg json.RawMessage, grants, gws []string) (json.RawMessage, []string, []string, error) {
	if len(cfg) == 0 || string(cfg) == "null" {
		cfg = json.RawMessage("{}")
	}
	if len(cfg) > 64<<10 {
		return nil, nil, nil, apperr.Invalid(apperr.FieldError{Field: "config", Message: "must encode to at most 65536 bytes"})
	}
	if err := plugin.CheckConfig(res.Runner, cfg); err != nil {
		return nil, nil, nil, apperr.Invalid(apperr.FieldError{Field: "config", Message: err.Error()})
	}
	if err := s.checkConfigGateways(ctx, a, res.Runner, cfg); err != nil {
		return nil, nil, nil, err
	}
	if grants == nil {
		grants = []string{}
	}
	if err := wasm.CheckGrants(res.Permissions, grants); err != nil {
		return nil, nil, nil, err
	}
	if gws == nil {
		gws = []string{}
	}
	if len(gws) > 50 {
		return nil, nil, nil, apperr.Invalid(apperr.FieldError{Field: "gatewayIds", Message: "at most 50"})
	}
	for _, g := range gws {
		if err := s.checkGateway(ctx, a, "gatewayIds", g); err != nil {
			return nil, nil, nil, err
		}
	}
	return cfg, grants, gws, nil
}

// checkGateway refuses an id that is not a gateway of a's workspace.
func (s *Service) checkGateway(ctx context.Context, a actor.Actor, field, g string) error {
	if !ids.Valid(ids.Gateway, g) {
		return apperr.Invalid(apperr.FieldError{Field: field, Message: fmt.Sprintf("%q is not a gateway id", g)})
	}
	if s.gateways != nil {
		if err := s.gateways(ctx, a, g); err != nil {
			return apperr.Invalid(apperr.FieldError{Field: field, Message: fmt.Sprintf("no gateway %s in this workspace", g)})
		}
	}
	return nil
}

// checkConfigGateways checks the gateways a plugin's config names (the
// scheduler's schedules) against a's workspace.
func (s *Service) checkConfigGateways(ctx context.Context, a actor.Actor, r plugin.Runner, cfg json.RawMessage) error {
	if ref, ok := unwrap(r).(plugin.GatewayReferrer); ok {
		return s.checkRefs(ctx, a, ref.ConfigGateways(cfg))
	}
	return nil
}

// checkInputGateways checks the gateway a standalone execution's input
// names (a reacting built-in's event) against a's workspace.
func (s *Service) checkInputGateways(ctx context.Context, a actor.Actor, r plugin.Runner, input json.RawMessage) error {
	if ref, ok := unwrap(r).(plugin.InputGatewayReferrer); ok {
		return s.checkRefs(ctx, a, ref.InputGateways(input))
	}
	return nil
}

func (s *Service) checkRefs(ctx context.Context, a actor.Actor, refs []plugin.ConfigRef) error {
	for _, g := range refs {
		if err := s.checkGateway(ctx, a, g.Field, g.ID); err != nil {
			return err
		}
	}
	return nil
}

// unwrap is the plugin behind a registry entry.
func unwrap(r plugin.Runner) plugin.Runner {
	if b, ok := r.(plugin.Builtin); ok {
		return b.Runner
	}
	return r
}

// Install installs a plugin in the actor's workspace within the plan's
// plugin limit (checked under the workspace lock, so parallel installs
// cannot both take the last slot).
func (s *Service) Install(ctx context.Context, a actor.Actor, in InstallInput) (Installation, error) {
	if err := allow(a, actor.PermPluginInstall); err != nil {
		return Installation{}, err
	}
	if in.Plugin == "" {
		return Installation{}, apperr.Invalid(apperr.FieldError{Field: "plugin", Message: "is required"})
	}
	if in.Version != "" && !wasm.ValidVersion(in.Version) {
		return Installation{}, apperr.Invalid(apperr.FieldError{Field: "version", Message: "must be a semantic version such as 1.2.3"})
	}
	res, err := s.market.ResolveInstallable(ctx, in.Plugin, in.Version)
	if err != nil {
		return Installation{}, err
	}
	cfg, grants, gws, err := s.checkSettings(ctx, a, res, in.Config, in.Grants, in.GatewayIDs)
	if err != nil {
		return Installation{}, err
	}
	if err := checkSecretChanges(in.Secrets, false); err != nil {
		return Installation{}, err
	}
	now := db.Now()
	out := Installation{ID: ids.New(ids.Installation), Plugin: in.Plugin, Version: res.Runner.Version(), Config: cfg, Grants: grants,
		GatewayIDs: gws, Enabled: true, UserID: a.UserID, OrganizationID: a.OrganizationID, CreatedAt: now, UpdatedAt: now, versionID: res.VersionID}
	out.Kind = market.KindBuiltin
	if res.Sandboxed {
		out.Kind = market.KindWasm
	}
	plainSecrets := make(map[string]string, len(in.Secrets))
	for k, v := range in.Secrets {
		plainSecrets[k] = *v
	}
	secretsEnc, secretsKeyID, names, err := s.sealSecrets(out.ID, plainSecrets)
	if err != nil {
		return Installation{}, apperr.Wrap(err, "install plugin")
	}
	out.SecretNames = names
	ws := a.WorkspaceID()
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := credit.CheckCountTx(ctx, tx, a, actor.ActionInstallPlugin, func(ctx context.Context, tx *db.Tx) (int64, error) {
			return Count(ctx, tx, ws)
		}); err != nil {
			return err
		}
		g, _ := json.Marshal(grants)
		gw, _ := json.Marshal(gws)
		n, _ := json.Marshal(names)
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO plugin_installations (workspace_id, id, plugin_slug, version, version_id,
			config, grants, gateway_ids, enabled, user_id, organization_id, created_at, updated_at, secrets_enc, secrets_key_id, secret_names)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15)`,
			out.ID, out.Plugin, out.Version, nullable(out.versionID), string(cfg), string(g), string(gw), true, a.UserID,
			nullable(a.OrganizationID), now, secretsEnc, secretsKeyID, string(n)); err != nil {
			if db.IsUniqueViolation(err) {
				return apperr.New(apperr.Conflict, "%s is installed in this workspace already; upgrade or configure it", in.Plugin)
			}
			return fmt.Errorf("insert installation: %w", err)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "plugin.installed", Resource: "installation", ResourceID: out.ID,
			// Secret names only, under a key the audit's redaction leaves
			// alone; their values never reach the audit.
			Metadata: map[string]any{"plugin": out.Plugin, "version": out.Version, "grants": grants, "sealedNames": names}})
	})
	if err != nil {
		return Installation{}, apperr.Wrap(err, "install plugin")
	}
	return out, nil
}

// Count counts a workspace's installations (the plan's "plugins").
func Count(ctx context.Context, q db.Querier, ws string) (int64, error) {
	var n int64
	if err := db.Scope(q, ws).QueryRowContext(ctx, `SELECT COUNT(*) FROM plugin_installations WHERE workspace_id = $1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count installations: %w", err)
	}
	return n, nil
}

// Get returns one installation of the actor's workspace.
func (s *Service) Get(ctx context.Context, a actor.Actor, id string) (Installation, error) {
	if err := allow(a, actor.PermPluginRead); err != nil {
		return Installation{}, err
	}
	in, err := get(ctx, s.db.Read(), a.WorkspaceID(), id)
	return in, apperr.Wrap(err, "get installation")
}

// List returns the workspace's installations, newest first.
func (s *Service) List(ctx context.Context, a actor.Actor) ([]Installation, error) {
	if err := allow(a, actor.PermPluginRead); err != nil {
		return nil, err
	}
	rows, err := db.Scope(s.db.Read(), a.WorkspaceID()).QueryContext(ctx,
		`SELECT `+columns+` FROM plugin_installations WHERE workspace_id = $1 ORDER BY id DESC`)
	if err != nil {
		return nil, apperr.Wrap(err, "list installations")
	}
	defer rows.Close()
	out := []Installation{}
	for rows.Next() {
		in, err := scan(rows)
		if err != nil {
			return nil, apperr.Wrap(err, "list installations")
		}
		out = append(out, in)
	}
	return out, apperr.Wrap(rows.Err(), "list installations")
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
