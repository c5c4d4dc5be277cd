package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/ids"
)

// CreateInput describes a new gateway.
type CreateInput struct {
	Type        channel.Type      `json:"type"`
	Name        string            `json:"name"`
	Credentials map[string]string `json:"credentials"`
	Config      map[string]any    `json:"config,omitempty"`
}

// UpdateInput changes a gateway; absent fields stay. Credentials are
// replaced whole and never read back.
type UpdateInput struct {
	Name        *string           `json:"name,omitempty"`
	Credentials map[string]string `json:"credentials,omitempty"`
	Config      map[string]any    `json:"config,omitempty"`
}

const maxConfigBytes = 8 << 10

func checkName(raw string) (string, error) {
	n := strings.TrimSpace(raw)
	switch {
	case n == "":
		return "", apperr.Invalid(apperr.FieldError{Field: "name", Message: "is required"})
	case utf8.RuneCountInString(n) > 100:
		return "", apperr.Invalid(apperr.FieldError{Field: "name", Message: "must be at most 100 characters"})
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f {
			return "", apperr.Invalid(apperr.FieldError{Field: "name", Message: "must not contain control characters"})
		}
	}
	return n, nil
}

func (s *Service) validate(t channel.Type, creds map[string]string, cfg map[string]any) (channel.Adapter, map[string]string, map[string]any, error) {
	ad, err := s.adapter(t)
	if err != nil {
		return nil, nil, nil, err
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	if b, _ := json.Marshal(cfg); len(b) > maxConfigBytes {
		return nil, nil, nil, apperr.Invalid(apperr.FieldError{Field: "config", Message: fmt.Sprintf("must encode to at most %d bytes", maxConfigBytes)})
	}
	if creds == nil {
		return nil, nil, nil, apperr.Invalid(apperr.FieldError{Field: "credentials", Message: "is required"})
	}
	c, cf, err := ad.Validate(creds, cfg)
	if err != nil {
		return nil, nil, nil, fieldErr(err)
	}
	return ad, c, cf, nil
}

func newHookToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Create stores a new gateway, DISCONNECTED, with its credentials sealed,
// within the plan's gateway limit.
func (s *Service) Create(ctx context.Context, a actor.Actor, in CreateInput) (Gateway, error) {
	if err := allow(a, actor.PermGatewayCreate); err != nil {
		return Gateway{}, err
	}
	name, err := checkName(in.Name)
	if err != nil {
		return Gateway{}, err
	}
	_, creds, cfg, err := s.validate(in.Type, in.Credentials, in.Config)
	if err != nil {
		return Gateway{}, err
	}
	now := db.Now()
	r := &row{workspaceID: a.WorkspaceID(), plan: a.Plan}
	r.Gateway = Gateway{ID: ids.New(ids.Gateway), Type: in.Type, Name: name, Status: Disconnected, Config: cfg,
		UserID: a.UserID, OrganizationID: a.OrganizationID, CreatedAt: now, UpdatedAt: now}
	if r.credsEnc, r.keyID, err = s.seal(r.ID, creds); err != nil {
		return Gateway{}, apperr.Wrap(err, "create gateway")
	}
	if r.hookEnc, _, err = s.sealHook(r.ID, newHookToken()); err != nil {
		return Gateway{}, apperr.Wrap(err, "create gateway")
	}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := checkGatewayLimit(ctx, tx, a); err != nil {
			return err
		}
		if err := insertRow(ctx, tx, r); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "gateway.created", Resource: "gateway", ResourceID: r.ID,
			Metadata: map[string]any{"type": r.Type, "name": r.Name}})
	})
	if err != nil {
		return Gateway{}, apperr.Wrap(err, "create gateway")
	}
	return s.view(r, creds)
}

// checkGatewayLimit enforces the plan's gateway quota atomically: the
// workspace lock serializes concurrent creations, so two requests cannot
// both take the last slot. It is the one place the limit is checked; when
// the credits issue's limits service lands, this function delegates to it.
func checkGatewayLimit(ctx context.Context, tx *db.Tx, a actor.Actor) error {
	return credit.CheckCountTx(ctx, tx, a, actor.ActionCreateGateway, func(ctx context.Context, tx *db.Tx) (int64, error) {
		return countGateways(ctx, tx, a.WorkspaceID())
	})
}

// Count reports a workspace's gateways, for the usage report.
func Count(ctx context.Context, q db.Querier, workspaceID string) (int64, error) {
	return countGateways(ctx, q, workspaceID)
}

// Get returns one gateway of the actor's workspace.
func (s *Service) Get(ctx context.Context, a actor.Actor, id string) (Gateway, error) {
	if err := allow(a, actor.PermGatewayRead); err != nil {
		return Gateway{}, err
	}
	if !ids.Valid(ids.Gateway, id) {
		return Gateway{}, errNotFound
	}
	r, err := getRow(ctx, s.db.Read(), a.WorkspaceID(), id)
	if err != nil {
		return Gateway{}, apperr.Wrap(err, "get gateway")
	}
	return s.view(r, nil)
}

// Filter narrows a listing.
type Filter struct {
	Type   channel.Type
	Status Status
	Cursor string
	Limit  int
}

// Page is a page of gateways, newest first.
type Page struct {
	Items      []Gateway `json:"items"`
	NextCursor *string   `json:"nextCursor"`
}

// List returns the workspace's gateways, newest first.
func (s *Service) List(ctx context.Context, a actor.Actor, f Filter) (Page, error) {
	if err := allow(a, actor.PermGatewayRead); err != nil {
		return Page{}, err
	}
	if f.Type != "" {
		if _, err := s.adapter(f.Type); err != nil {
			return Page{}, err
		}
	}
	switch f.Status {
	case "", Disconnected, Connecting, Connected, Error:
	default:
		return Page{}, apperr.Invalid(apperr.FieldError{Field: "status", Message: "must be DISCONNECTED, CONNECTING, CONNECTED or ERROR"})
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	if limit > 200 {
		limit = 200
	}
	q := `SELECT ` + rowColumns + rowFrom + `WHERE g.workspace_id = $1`
	args := []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		q += fmt.Sprintf(" AND "+cond, len(args)+1)
	}
	if f.Type != "" {
		add("g.type = $%d", string(f.Type))
	}
	if f.Status != "" {
		add("g.status = $%d", string(f.Status))
	}
	if f.Cursor != "" {
		add("g.id < $%d", f.Cursor)
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(" ORDER BY g.id DESC LIMIT $%d", len(args)+1)
	rows, err := db.Scope(s.db.Read(), a.WorkspaceID()).QueryContext(ctx, q, args...)
	if err != nil {
		return Page{}, apperr.Wrap(err, "list gateways")
	}
	defer rows.Close()
	p := Page{Items: []Gateway{}}
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return Page{}, apperr.Wrap(err, "list gateways")
		}
		g, err := s.view(r, nil)
		if err != nil {
			return Page{}, err
		}
		p.Items = append(p.Items, g)
	}
	if err := rows.Err(); err != nil {
		return Page{}, apperr.Wrap(err, "list gateways")
	}
	if len(p.Items) > limit {
		p.Items = p.Items[:limit]
		next := p.Items[limit-1].ID
		p.NextCursor = &next
	}
	return p, nil
}

// Update renames a gateway, replaces its credentials or its configuration.
// New credentials disconnect it: they must be verified by connecting again.
func (s *Service) Update(ctx context.Context, a actor.Actor, id string, in UpdateInput) (Gateway, error) {
	if err := allow(a, actor.PermGatewayUpdate); err != nil {
		return Gateway{}, err
	}
	if !ids.Valid(ids.Gateway, id) {
		return Gateway{}, errNotFound
	}
	var out Gateway
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		r, err := getRow(ctx, tx, a.WorkspaceID(), id)
		if err != nil {
			return err
		}
		// Snapshot what an update may change, encoded now: the row's maps
		// are replaced below.
		beforeRaw, err := json.Marshal(map[string]any{"name": r.Name, "config": r.Config, "status": r.Status})
		if err != nil {
			return fmt.Errorf("encode gateway: %w", err)
		}
		var fields []string
		sets := []string{}
		args := []any{r.ID}
		set := func(col string, v any) {
			args = append(args, v)
			sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)+1))
		}
		if in.Name != nil {
			name, err := checkName(*in.Name)
			if err != nil {
				return err
			}
			r.Name = name
			set("name", name)
			fields = append(fields, "name")
		}
		if in.Credentials != nil || in.Config != nil {
			creds, cfg := in.Credentials, in.Config
			if cfg == nil {
				cfg = r.Config
			}
			if creds == nil {
				if creds, err = s.open(r); err != nil {
					return err
				}
				// Re-validate the current credentials against the new config,
				// but keep them as they are (no regenerated secrets).
				if _, _, _, err := s.validate(r.Type, userCredentials(r.Type, creds), cfg); err != nil {
					return err
				}
			} else {
				var vcfg map[string]any
				if _, creds, vcfg, err = s.validate(r.Type, creds, cfg); err != nil {
					return err
				}
				cfg = vcfg
			}
			if in.Config != nil {
				b, _ := json.Marshal(cfg)
				r.Config = cfg
				set("config", string(b))
				fields = append(fields, "config")
			}
			if in.Credentials != nil {
				enc, keyID, err := s.seal(r.ID, creds)
				if err != nil {
					return err
				}
				set("credentials_enc", enc)
				set("credentials_key_id", keyID)
				set("auth_failures", 0)
				r.Status = Disconnected
				set("status", string(Disconnected))
				fields = append(fields, "credentials")
			}
		}
		if len(fields) == 0 {
			return apperr.New(apperr.Validation, "nothing to update: give name, credentials or config")
		}
		r.UpdatedAt = db.Now()
		set("updated_at", r.UpdatedAt)
		if _, err := db.Scope(tx, r.workspaceID).ExecContext(ctx, `UPDATE gateways SET `+strings.Join(sets, ", ")+
			` WHERE workspace_id = $1 AND id = $2`, args...); err != nil {
			return fmt.Errorf("update gateway %s: %w", r.ID, err)
		}
		if out, err = s.view(r, nil); err != nil {
			return err
		}
		meta := audit.WithDiff(map[string]any{"fields": fields}, json.RawMessage(beforeRaw),
			map[string]any{"name": r.Name, "config": r.Config, "status": r.Status})
		if in.Credentials != nil {
			// New credentials are never compared or shown, only noted.
			meta["before"].(map[string]any)["credentials"] = audit.Redacted
			meta["after"].(map[string]any)["credentials"] = audit.Redacted
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "gateway.updated", Resource: "gateway", ResourceID: r.ID,
			Metadata: meta})
	})
	if err != nil {
		return Gateway{}, apperr.Wrap(err, "update gateway")
	}
	return out, nil
}

// userCredentials drops generated credential fields, leaving what a user
// supplies, for re-validation.
func userCredentials(t channel.Type, creds map[string]string) map[string]string {
	out := map[string]string{}
	for _, n := range credentialNames(t, creds) {
		out[n] = creds[n]
	}
	return out
}

// Delete removes a gateway after telling the provider to stop delivering
// (best effort). Its stored events stay for history.
func (s *Service) Delete(ctx context.Context, a actor.Actor, id string) error {
	if err := allow(a, actor.PermGatewayDelete); err != nil {
		return err
	}
	if !ids.Valid(ids.Gateway, id) {
		return errNotFound
	}
	r, err := getRow(ctx, s.db.Read(), a.WorkspaceID(), id)
	if err != nil {
		return apperr.Wrap(err, "delete gateway")
	}
	if r.Status == Connected || r.Status == Error {
		s.unregister(ctx, r)
	}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		res, err := db.Scope(tx, a.WorkspaceID()).ExecContext(ctx, `DELETE FROM gateways WHERE workspace_id = $1 AND id = $2`, id)
		if err != nil {
			return fmt.Errorf("delete gateway %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotFound
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "gateway.deleted", Resource: "gateway", ResourceID: id,
			Metadata: map[string]any{"type": r.Type, "name": r.Name}})
	})
	return apperr.Wrap(err, "delete gateway")
}
