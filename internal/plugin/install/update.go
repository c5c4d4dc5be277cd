package install

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/plugin/market"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
)

// UpdateInput changes an installation; absent fields stay. Version
// upgrades (or moves) to another approved version: config and grants are
// checked against that version's manifest. Secrets replaces the named
// secrets (null deletes one); secrets not named stay.
type UpdateInput struct {
	Version    *string            `json:"version,omitempty"`
	Config     *json.RawMessage   `json:"config,omitempty"`
	Grants     *[]string          `json:"grants,omitempty"`
	GatewayIDs *[]string          `json:"gatewayIds,omitempty"`
	Secrets    map[string]*string `json:"secrets,omitempty"`
}

// resolved returns the runner an installation runs.
func (s *Service) resolved(ctx context.Context, in Installation) (market.Resolved, error) {
	if in.versionID == "" {
		return s.market.ResolveInstallable(ctx, in.Plugin, "")
	}
	return s.market.Load(ctx, in.versionID)
}

// Update reconfigures or upgrades an installation. Changing the version or
// the grants needs plugin:install; config and gateways need
// plugin:configure.
func (s *Service) Update(ctx context.Context, a actor.Actor, id string, up UpdateInput) (Installation, error) {
	perm := actor.PermPluginConfigure
	if up.Version != nil || up.Grants != nil {
		perm = actor.PermPluginInstall
	}
	if err := allow(a, perm); err != nil {
		return Installation{}, err
	}
	ws := a.WorkspaceID()
	cur, err := get(ctx, s.db.Read(), ws, id)
	if err != nil {
		return Installation{}, apperr.Wrap(err, "update installation")
	}
	res, err := s.resolved(ctx, cur)
	if err != nil {
		return Installation{}, err
	}
	next := cur
	if up.Version != nil && *up.Version != cur.Version {
		if !wasm.ValidVersion(*up.Version) {
			return Installation{}, apperr.Invalid(apperr.FieldError{Field: "version", Message: "must be a semantic version such as 1.2.3"})
		}
		if res, err = s.market.ResolveInstallable(ctx, cur.Plugin, *up.Version); err != nil {
			return Installation{}, err
		}
		next.Version, next.versionID = res.Runner.Version(), res.VersionID
	}
	if up.Config != nil {
		next.Config = *up.Config
	}
	if up.Grants != nil {
		next.Grants = *up.Grants
	}
	if up.GatewayIDs != nil {
		next.GatewayIDs = *up.GatewayIDs
	}
	if next.Config, next.Grants, next.GatewayIDs, err = s.checkSettings(ctx, a, res, next.Config, next.Grants, next.GatewayIDs); err != nil {
		return Installation{}, err
	}
	if err := checkSecretChanges(up.Secrets, true); err != nil {
		return Installation{}, err
	}
	next.UpdatedAt = db.Now()
	var set, deleted []string
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		g, _ := json.Marshal(next.Grants)
		gw, _ := json.Marshal(next.GatewayIDs)
		r, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE plugin_installations SET version = $3, version_id = $4, config = $5,
			grants = $6, gateway_ids = $7, updated_at = $8 WHERE workspace_id = $1 AND id = $2 AND version = $9`,
			id, next.Version, nullable(next.versionID), string(next.Config), string(g), string(gw), next.UpdatedAt, cur.Version)
		if err != nil {
			return fmt.Errorf("update installation: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return apperr.New(apperr.Conflict, "the installation changed meanwhile; try again")
		}
		if len(up.Secrets) > 0 {
			if next.SecretNames, set, deleted, err = s.updateSecrets(ctx, tx, ws, id, up.Secrets); err != nil {
				return err
			}
		}
		meta := map[string]any{"plugin": cur.Plugin, "configChanged": up.Config != nil}
		if len(up.Secrets) > 0 {
			// Names only, under keys the audit's redaction leaves alone.
			meta["sealedNamesSet"], meta["sealedNamesDeleted"] = set, deleted
		}
		action := "plugin.configured"
		if next.Version != cur.Version {
			action = "plugin.upgraded"
			meta["from"], meta["to"] = cur.Version, next.Version
		}
		if up.Grants != nil {
			meta["grants"] = next.Grants
		}
		// Sealed secrets are not part of the installation's view: only
		// their names are noted above.
		meta = audit.WithDiff(meta,
			map[string]any{"version": cur.Version, "config": cur.Config, "grants": cur.Grants, "gatewayIds": cur.GatewayIDs},
			map[string]any{"version": next.Version, "config": next.Config, "grants": next.Grants, "gatewayIds": next.GatewayIDs})
		return audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "installation", ResourceID: id, Metadata: meta})
	})
	if err != nil {
		return Installation{}, apperr.Wrap(err, "update installation")
	}
	return next, nil
}

// updateSecrets merges changes into an installation's sealed secrets in
// tx (the row was just updated in tx, so it is locked against a parallel
// update on PostgreSQL; the write is a compare-and-swap all the same).
func (s *Service) updateSecrets(ctx context.Context, tx *db.Tx, ws, id string, changes map[string]*string) (names, set, deleted []string, err error) {
	enc, err := sealedSecrets(ctx, tx, ws, id)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := s.openSecrets(id, enc)
	if err != nil {
		return nil, nil, nil, err
	}
	set, deleted = []string{}, []string{}
	for k, v := range changes {
		if v == nil {
			if _, ok := m[k]; ok {
				deleted = append(deleted, k)
			}
			delete(m, k)
			continue
		}
		m[k] = *v
		set = append(set, k)
	}
	sort.Strings(set)
	sort.Strings(deleted)
	if len(m) > MaxSecrets {
		return nil, nil, nil, apperr.Invalid(apperr.FieldError{Field: "secrets", Message: fmt.Sprintf("an installation holds at most %d secrets", MaxSecrets)})
	}
	newEnc, keyID, names, err := s.sealSecrets(id, m)
	if err != nil {
		return nil, nil, nil, err
	}
	n, _ := json.Marshal(names)
	r, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE plugin_installations SET secrets_enc = $3, secrets_key_id = $4, secret_names = $5
		WHERE workspace_id = $1 AND id = $2 AND secrets_enc = $6`, id, newEnc, keyID, string(n), enc)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("update installation secrets: %w", err)
	}
	if k, _ := r.RowsAffected(); k == 0 {
		return nil, nil, nil, apperr.New(apperr.Conflict, "the installation changed meanwhile; try again")
	}
	return names, set, deleted, nil
}

// SetEnabled enables or disables an installation; a disabled installation
// does not execute.
func (s *Service) SetEnabled(ctx context.Context, a actor.Actor, id string, enabled bool) (Installation, error) {
	if err := allow(a, actor.PermPluginConfigure); err != nil {
		return Installation{}, err
	}
	ws := a.WorkspaceID()
	var out Installation
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		if _, err := get(ctx, tx, ws, id); err != nil {
			return err
		}
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE plugin_installations SET enabled = $3, updated_at = $4 WHERE workspace_id = $1 AND id = $2`,
			id, enabled, db.Now()); err != nil {
			return fmt.Errorf("enable installation: %w", err)
		}
		var err error
		if out, err = get(ctx, tx, ws, id); err != nil {
			return err
		}
		action := "plugin.disabled"
		if enabled {
			action = "plugin.enabled"
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "installation", ResourceID: id, Metadata: map[string]any{"plugin": out.Plugin}})
	})
	return out, apperr.Wrap(err, "enable installation")
}

// UninstallHook removes what another package keeps for an installation,
// inside the uninstall's transaction.
type UninstallHook func(ctx context.Context, tx *db.Tx, workspaceID, installationID string) error

// OnUninstall registers h; call before serving.
func (s *Service) OnUninstall(h UninstallHook) { s.onUninstall = append(s.onUninstall, h) }

// Uninstall removes an installation with its key-value data, execution
// history and whatever hooks (OnUninstall) remove for it.
func (s *Service) Uninstall(ctx context.Context, a actor.Actor, id string) error {
	if err := allow(a, actor.PermPluginInstall); err != nil {
		return err
	}
	ws := a.WorkspaceID()
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		in, err := get(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		q := db.Scope(tx, ws)
		for _, h := range s.onUninstall {
			if err := h(ctx, tx, ws, id); err != nil {
				return fmt.Errorf("uninstall: %w", err)
			}
		}
		for _, stmt := range []string{
			`DELETE FROM plugin_kv WHERE workspace_id = $1 AND installation_id = $2`,
			`DELETE FROM plugin_executions WHERE workspace_id = $1 AND installation_id = $2`,
			`DELETE FROM plugin_installations WHERE workspace_id = $1 AND id = $2`,
		} {
			if _, err := q.ExecContext(ctx, stmt, id); err != nil {
				return fmt.Errorf("uninstall: %w", err)
			}
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "plugin.uninstalled", Resource: "installation", ResourceID: id,
			Metadata: map[string]any{"plugin": in.Plugin, "version": in.Version}})
	})
	return apperr.Wrap(err, "uninstall plugin")
}
