// Package market is the plugin marketplace: developers submit WebAssembly
// plugin versions (a manifest and a module), reviewers approve or reject
// them, admins feature plugins, and the catalog lists built-in plugins
// beside every marketplace plugin with an approved version. Only APPROVED
// versions can be newly installed; a YANKED version keeps running where it
// is installed but cannot be installed again.
package market

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
)

// Status of a submitted version.
type Status string

const (
	Pending  Status = "PENDING"
	Approved Status = "APPROVED"
	Rejected Status = "REJECTED"
	Yanked   Status = "YANKED"
)

// Version is one submitted plugin version, without its module bytes.
type Version struct {
	ID           string          `json:"id"`
	PluginID     string          `json:"pluginId"`
	Slug         string          `json:"slug"`
	Version      string          `json:"version"`
	Status       Status          `json:"status"`
	Manifest     json.RawMessage `json:"manifest"`
	WasmSHA256   string          `json:"wasmSha256"`
	WasmSize     int64           `json:"wasmSize"`
	SubmittedBy  string          `json:"submittedBy"`
	ReviewReason string          `json:"reviewReason,omitempty"`
	ReviewedBy   string          `json:"reviewedBy,omitempty"`
	ReviewedAt   *time.Time      `json:"reviewedAt,omitempty"`
	CreatedAt    time.Time       `json:"createdAt"`
}

// Service runs the marketplace.
type Service struct {
	db       *db.DB
	engine   *wasm.Engine
	registry *plugin.Registry

	mu      sync.Mutex
	runners map[string]*wasm.Runner // by version id
}

// New returns the marketplace service.
func New(d *db.DB, engine *wasm.Engine, registry *plugin.Registry) *Service {
	return &Service{db: d, engine: engine, registry: registry, runners: map[string]*wasm.Runner{}}
}

// Registry is the registry of built-in plugins.
func (s *Service) Registry() *plugin.Registry { return s.registry }

// Engine is the WebAssembly engine.
func (s *Service) Engine() *wasm.Engine { return s.engine }

var errNotFound = apperr.New(apperr.NotFound, "plugin version not found")

const versionColumns = `v.id, v.plugin_id, p.slug, v.version, v.status, v.manifest, v.wasm_sha256, v.wasm_size,
	v.submitted_by, v.review_reason, v.reviewed_by, v.reviewed_at, v.created_at`
const versionFrom = ` FROM marketplace_versions v JOIN marketplace_plugins p ON p.id = v.plugin_id `

type scanner interface{ Scan(...any) error }

func scanVersion(r scanner) (Version, error) {
	var v Version
	var manifest string
	var reason, reviewer sql.NullString
	var reviewed sql.NullTime
	if err := r.Scan(&v.ID, &v.PluginID, &v.Slug, &v.Version, &v.Status, &manifest, &v.WasmSHA256, &v.WasmSize,
		&v.SubmittedBy, &reason, &reviewer, &reviewed, &v.CreatedAt); err != nil {
		return Version{}, err
	}
	v.Manifest = json.RawMessage(manifest)
	v.ReviewReason, v.ReviewedBy = reason.String, reviewer.String
	if reviewed.Valid {
		t := reviewed.Time.UTC()
		v.ReviewedAt = &t
	}
	v.CreatedAt = v.CreatedAt.UTC()
	return v, nil
}

func getVersion(ctx context.Context, q db.Querier, id string) (Version, error) {
	v, err := scanVersion(q.QueryRowContext(ctx, `SELECT `+versionColumns+versionFrom+`WHERE v.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Version{}, errNotFound
	}
	if err != nil {
		return Version{}, fmt.Errorf("get plugin version %s: %w", id, err)
	}
	return v, nil
}

// Resolved is a plugin version ready to install or run.
type Resolved struct {
	Runner plugin.Runner
	// VersionID is the marketplace version ("" for a built-in).
	VersionID string
	// Permissions are what a sandboxed plugin asks for (none for built-ins).
	Permissions []string
	Sandboxed   bool
}

// IsBuiltin reports whether slug names a built-in plugin.
func (s *Service) IsBuiltin(slug string) bool {
	_, ok := s.registry.Builtin(slug)
	return ok
}

// ResolveInstallable finds the version of slug to install: a built-in, or
// the given (or else the latest) APPROVED marketplace version.
func (s *Service) ResolveInstallable(ctx context.Context, slug, version string) (Resolved, error) {
	if b, ok := s.registry.Builtin(slug); ok {
		if version != "" && version != b.Version() {
			return Resolved{}, apperr.Invalid(apperr.FieldError{Field: "version", Message: fmt.Sprintf("built-in %s is at version %s", slug, b.Version())})
		}
		return Resolved{Runner: b.Runner}, nil
	}
	var id string
	var status Status
	var err error
	if version == "" {
		err = s.db.Read().QueryRowContext(ctx, `SELECT v.id, v.status`+versionFrom+`WHERE p.slug = $1 AND v.status = 'APPROVED'
			ORDER BY v.created_at DESC, v.id DESC LIMIT 1`, slug).Scan(&id, &status)
	} else {
		err = s.db.Read().QueryRowContext(ctx, `SELECT v.id, v.status`+versionFrom+`WHERE p.slug = $1 AND v.version = $2`, slug, version).Scan(&id, &status)
	}
	if errors.Is(err, sql.ErrNoRows) {
		if version == "" {
			return Resolved{}, apperr.New(apperr.NotFound, "no installable plugin %q", slug)
		}
		return Resolved{}, apperr.New(apperr.NotFound, "plugin %q has no version %s", slug, version)
	}
	if err != nil {
		return Resolved{}, apperr.Wrap(err, "resolve plugin")
	}
	if status != Approved {
		return Resolved{}, apperr.New(apperr.Conflict, "version %s of %s is %s and cannot be installed", version, slug, status).
			WithDetails(map[string]any{"status": status})
	}
	return s.Load(ctx, id)
}

// Load returns the runner of a marketplace version whatever its status
// (installed versions keep running after a yank). Runners are cached.
func (s *Service) Load(ctx context.Context, versionID string) (Resolved, error) {
	s.mu.Lock()
	r, ok := s.runners[versionID]
	s.mu.Unlock()
	if !ok {
		var manifest, status string
		var mod []byte
		err := s.db.Read().QueryRowContext(ctx, `SELECT manifest, wasm, status FROM marketplace_versions WHERE id = $1`, versionID).Scan(&manifest, &mod, &status)
		if errors.Is(err, sql.ErrNoRows) {
			return Resolved{}, errNotFound
		}
		if err != nil {
			return Resolved{}, apperr.Wrap(err, "load plugin version")
		}
		m, err := wasm.ParseManifest(json.RawMessage(manifest))
		if err != nil {
			return Resolved{}, apperr.Wrap(fmt.Errorf("stored manifest of %s: %w", versionID, err), "load plugin version")
		}
		r = s.engine.NewRunner(m, mod)
		// Only an APPROVED version's machine code goes to the engine's
		// disk cache; a yanked one still installed runs compiled in memory.
		r.SetApproved(Status(status) == Approved)
		s.mu.Lock()
		if len(s.runners) < 256 {
			s.runners[versionID] = r
		}
		s.mu.Unlock()
	}
	return Resolved{Runner: r, VersionID: versionID, Permissions: r.Manifest().Permissions, Sandboxed: true}, nil
}

func requirePerm(a actor.Actor, p actor.Permission) error {
	if !a.Can(p) {
		return apperr.New(apperr.Forbidden, "you lack the permission %s", p)
	}
	return nil
}
