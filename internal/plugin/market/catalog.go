package market

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
)

// Kind tells built-in plugins from sandboxed marketplace ones.
type Kind string

const (
	KindBuiltin Kind = "builtin"
	KindWasm    Kind = "wasm"
)

// Entry is one plugin in the catalog: its latest installable version's
// description and schemas, and every installable version.
type Entry struct {
	Slug        string   `json:"slug"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Kind        Kind     `json:"kind"`
	Featured    bool     `json:"featured"`
	AuthorID    string   `json:"authorId,omitempty"`
	Version     string   `json:"version"`
	Versions    []string `json:"versions"`
	Permissions []string `json:"permissions"`
	// AllowedHosts are the hosts a sandboxed plugin's http_request may
	// reach (its manifest's allow-list), for the installer to judge.
	AllowedHosts      []string        `json:"allowedHosts"`
	CanBeWorkflowStep bool            `json:"canBeWorkflowStep"`
	InputSchema       json.RawMessage `json:"inputSchema"`
	OutputSchema      json.RawMessage `json:"outputSchema"`
	ConfigSchema      json.RawMessage `json:"configSchema"`
}

func schemaJSON(s *plugin.Schema) json.RawMessage {
	if s == nil {
		return json.RawMessage("null")
	}
	return s.Raw()
}

func builtinEntry(b plugin.Builtin) Entry {
	return Entry{Slug: b.Slug(), Name: b.Name, Description: b.Description, Kind: KindBuiltin, Version: b.Version(),
		Versions: []string{b.Version()}, Permissions: []string{}, AllowedHosts: []string{}, CanBeWorkflowStep: b.CanBeWorkflowStep(),
		InputSchema: schemaJSON(b.InputSchema()), OutputSchema: schemaJSON(b.OutputSchema()), ConfigSchema: schemaJSON(b.ConfigSchema())}
}

func parseStored(raw json.RawMessage) (wasm.Compiled, error) {
	m, err := wasm.ParseManifest(raw)
	if err != nil {
		return wasm.Compiled{}, fmt.Errorf("stored manifest: %w", err)
	}
	return m, nil
}

// Catalog lists every plugin a workspace can install: built-ins first,
// then marketplace plugins with an approved version, featured ones first.
func (s *Service) Catalog(ctx context.Context, a actor.Actor) ([]Entry, error) {
	if !a.Authenticated() {
		return nil, apperr.New(apperr.Unauthorized, "sign in first")
	}
	out := []Entry{}
	for _, b := range s.registry.Builtins() {
		out = append(out, builtinEntry(b))
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT DISTINCT p.slug FROM marketplace_plugins p
		JOIN marketplace_versions v ON v.plugin_id = p.id WHERE v.status = 'APPROVED'`)
	if err != nil {
		return nil, apperr.Wrap(err, "catalog")
	}
	var slugs []string
	for rows.Next() {
		var slug string
		if err := rows.Scan(&slug); err != nil {
			rows.Close()
			return nil, apperr.Wrap(err, "catalog")
		}
		slugs = append(slugs, slug)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, apperr.Wrap(err, "catalog")
	}
	var market []Entry
	for _, slug := range slugs {
		e, err := s.plugin(ctx, slug, false)
		if err != nil {
			return nil, err
		}
		market = append(market, e)
	}
	sort.Slice(market, func(i, j int) bool {
		if market[i].Featured != market[j].Featured {
			return market[i].Featured
		}
		return market[i].Slug < market[j].Slug
	})
	return append(out, market...), nil
}

// Plugin returns one catalog entry.
func (s *Service) Plugin(ctx context.Context, a actor.Actor, slug string) (Entry, error) {
	if !a.Authenticated() {
		return Entry{}, apperr.New(apperr.Unauthorized, "sign in first")
	}
	if b, ok := s.registry.Builtin(slug); ok {
		return builtinEntry(b), nil
	}
	return s.plugin(ctx, slug, false)
}

// plugin builds a marketplace entry; withoutApproved admits a listing with
// no approved version yet (for the feature toggle's answer).
func (s *Service) plugin(ctx context.Context, slug string, withoutApproved bool) (Entry, error) {
	e := Entry{Slug: slug, Kind: KindWasm, Versions: []string{}, Permissions: []string{}, AllowedHosts: []string{}}
	var pluginID string
	err := s.db.Read().QueryRowContext(ctx, `SELECT id, name, description, author_id, featured FROM marketplace_plugins WHERE slug = $1`, slug).
		Scan(&pluginID, &e.Name, &e.Description, &e.AuthorID, &e.Featured)
	if err != nil {
		return Entry{}, apperr.New(apperr.NotFound, "no plugin %q", slug)
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT version, manifest FROM marketplace_versions WHERE plugin_id = $1 AND status = 'APPROVED'`, pluginID)
	if err != nil {
		return Entry{}, apperr.Wrap(err, "plugin versions")
	}
	defer rows.Close()
	var latest json.RawMessage
	for rows.Next() {
		var v, manifest string
		if err := rows.Scan(&v, &manifest); err != nil {
			return Entry{}, apperr.Wrap(err, "plugin versions")
		}
		e.Versions = append(e.Versions, v)
		if e.Version == "" || wasm.CompareVersions(v, e.Version) > 0 {
			e.Version, latest = v, json.RawMessage(manifest)
		}
	}
	if err := rows.Err(); err != nil {
		return Entry{}, apperr.Wrap(err, "plugin versions")
	}
	sort.Slice(e.Versions, func(i, j int) bool { return wasm.CompareVersions(e.Versions[i], e.Versions[j]) > 0 })
	if latest == nil {
		if !withoutApproved {
			return Entry{}, apperr.New(apperr.NotFound, "no plugin %q", slug)
		}
		e.InputSchema, e.OutputSchema, e.ConfigSchema = json.RawMessage("null"), json.RawMessage("null"), json.RawMessage("null")
		return e, nil
	}
	m, err := parseStored(latest)
	if err != nil {
		return Entry{}, apperr.Wrap(err, "plugin")
	}
	e.Permissions = append(e.Permissions, m.Permissions...)
	e.AllowedHosts = append(e.AllowedHosts, m.AllowedHosts...)
	e.CanBeWorkflowStep = m.CanBeWorkflowStep
	e.InputSchema, e.OutputSchema, e.ConfigSchema = schemaJSON(m.Input), schemaJSON(m.Output), schemaJSON(m.Config)
	return e, nil
}
