package market

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
)

// SubmitInput is a new plugin version. Wasm is the module in standard
// base64; it may be gzip-compressed (recognized by its magic bytes), which
// shrinks a Go module about 3.5 times. The manifest's slug and version name
// the version.
type SubmitInput struct {
	Manifest json.RawMessage `json:"manifest"`
	Wasm     string          `json:"wasm"`
}

func (s *Service) decodeModule(b64 string) ([]byte, error) {
	bad := func(msg string) error { return apperr.Invalid(apperr.FieldError{Field: "wasm", Message: msg}) }
	if b64 == "" {
		return nil, bad("is required: the module in base64")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, bad("must be standard base64")
	}
	if len(raw) < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
		return raw, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, bad("is not valid gzip: " + err.Error())
	}
	limit := s.engine.Options().MaxModuleBytes
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, bad("is not valid gzip: " + err.Error())
	}
	if len(out) > limit {
		return nil, bad(fmt.Sprintf("module exceeds %d bytes uncompressed", limit))
	}
	return out, nil
}

// Submit stores a new version as PENDING review. The first submission of a
// slug creates the listing and makes the submitter its author; later
// versions come only from the author and must be newer than every earlier
// version.
func (s *Service) Submit(ctx context.Context, a actor.Actor, in SubmitInput) (Version, error) {
	if err := requirePerm(a, actor.PermMarketSubmit); err != nil {
		return Version{}, err
	}
	m, err := wasm.ParseManifest(in.Manifest)
	if err != nil {
		return Version{}, err
	}
	if s.IsBuiltin(m.Slug) {
		return Version{}, apperr.New(apperr.Conflict, "%q is the slug of a built-in plugin", m.Slug)
	}
	mod, err := s.decodeModule(in.Wasm)
	if err != nil {
		return Version{}, err
	}
	if _, err := s.engine.Check(ctx, mod, m.Permissions); err != nil {
		return Version{}, err
	}
	canonical, err := json.Marshal(m.Manifest)
	if err != nil {
		return Version{}, apperr.Wrap(err, "encode manifest")
	}
	now := db.Now()
	v := Version{ID: ids.New(ids.PluginVersion), Slug: m.Slug, Version: m.Version, Status: Pending, Manifest: canonical,
		WasmSHA256: wasm.Hash(mod), WasmSize: int64(len(mod)), SubmittedBy: a.UserID, CreatedAt: now}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		var author string
		err := tx.QueryRowContext(ctx, `SELECT id, author_id FROM marketplace_plugins WHERE slug = $1`, m.Slug).Scan(&v.PluginID, &author)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			v.PluginID = ids.New(ids.Plugin)
			if _, err := tx.ExecContext(ctx, `INSERT INTO marketplace_plugins (id, slug, name, description, author_id, featured, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, v.PluginID, m.Slug, m.Name, m.Description, a.UserID, false, now); err != nil {
				if db.IsUniqueViolation(err) {
					return apperr.New(apperr.Conflict, "plugin %q was just created by someone else", m.Slug)
				}
				return fmt.Errorf("insert plugin: %w", err)
			}
		case err != nil:
			return fmt.Errorf("find plugin: %w", err)
		case author != a.UserID:
			return apperr.New(apperr.Conflict, "plugin %q belongs to another developer", m.Slug)
		default:
			latest, err := latestVersion(ctx, tx, v.PluginID)
			if err != nil {
				return err
			}
			if latest != "" && wasm.CompareVersions(m.Version, latest) <= 0 {
				return apperr.New(apperr.Conflict, "version %s must be newer than %s, the latest submitted", m.Version, latest)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO marketplace_versions
			(id, plugin_id, version, manifest, wasm, wasm_sha256, wasm_size, status, submitted_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'PENDING', $8, $9)`,
			v.ID, v.PluginID, v.Version, string(canonical), mod, v.WasmSHA256, v.WasmSize, a.UserID, now); err != nil {
			if db.IsUniqueViolation(err) {
				return apperr.New(apperr.Conflict, "version %s of %s exists already", m.Version, m.Slug)
			}
			return fmt.Errorf("insert version: %w", err)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "marketplace.version.submitted", Resource: "plugin_version", ResourceID: v.ID,
			Metadata: map[string]any{"slug": m.Slug, "version": m.Version, "wasmSha256": v.WasmSHA256, "wasmSize": v.WasmSize, "permissions": m.Permissions}})
	})
	if err != nil {
		return Version{}, apperr.Wrap(err, "submit plugin version")
	}
	return v, nil
}

func latestVersion(ctx context.Context, q db.Querier, pluginID string) (string, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM marketplace_versions WHERE plugin_id = $1`, pluginID)
	if err != nil {
		return "", fmt.Errorf("list versions: %w", err)
	}
	defer rows.Close()
	latest := ""
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return "", err
		}
		if latest == "" || wasm.CompareVersions(v, latest) > 0 {
			latest = v
		}
	}
	return latest, rows.Err()
}

// Submissions lists the versions the actor submitted, newest first.
// At most limit (1–200, default 200) of those after the id after.
func (s *Service) Submissions(ctx context.Context, a actor.Actor, after string, limit int) ([]Version, error) {
	if err := requirePerm(a, actor.PermMarketSubmit); err != nil {
		return nil, err
	}
	return s.listVersions(ctx, `WHERE v.submitted_by = $1`, a.UserID, after, limit)
}

// ReviewQueue lists versions with a status (default PENDING), newest first,
// for reviewers: at most limit (1–200, default 200) of those after the id
// after.
func (s *Service) ReviewQueue(ctx context.Context, a actor.Actor, status Status, after string, limit int) ([]Version, error) {
	if err := requirePerm(a, actor.PermMarketReview); err != nil {
		return nil, err
	}
	if status == "" {
		status = Pending
	}
	switch status {
	case Pending, Approved, Rejected, Yanked:
	default:
		return nil, apperr.Invalid(apperr.FieldError{Field: "status", Message: "must be PENDING, APPROVED, REJECTED or YANKED"})
	}
	return s.listVersions(ctx, `WHERE v.status = $1`, string(status), after, limit)
}

func (s *Service) listVersions(ctx context.Context, where string, arg any, after string, limit int) ([]Version, error) {
	if limit <= 0 || limit > 200 {
		limit = 200
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+versionColumns+versionFrom+where+
		` AND ($2 = '' OR v.id < $2) ORDER BY v.id DESC LIMIT $3`, arg, after, limit)
	if err != nil {
		return nil, apperr.Wrap(err, "list plugin versions")
	}
	defer rows.Close()
	out := []Version{}
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, apperr.Wrap(err, "list plugin versions")
		}
		out = append(out, v)
	}
	return out, apperr.Wrap(rows.Err(), "list plugin versions")
}
