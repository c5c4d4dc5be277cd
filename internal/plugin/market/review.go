package market

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

// ReviewInput carries a reviewer's reason (required to reject or yank).
type ReviewInput struct {
	Reason string `json:"reason,omitempty"`
}

func checkReason(r string, required bool) (string, error) {
	r = strings.TrimSpace(r)
	if required && r == "" {
		return "", apperr.Invalid(apperr.FieldError{Field: "reason", Message: "is required"})
	}
	if utf8.RuneCountInString(r) > 2000 {
		return "", apperr.Invalid(apperr.FieldError{Field: "reason", Message: "must be at most 2000 characters"})
	}
	return r, nil
}

// Approve makes a PENDING version installable; the listing takes the
// approved manifest's name and description.
func (s *Service) Approve(ctx context.Context, a actor.Actor, id string, in ReviewInput) (Version, error) {
	return s.transition(ctx, a, id, in, actor.PermMarketReview, []Status{Pending}, Approved, false, "marketplace.version.approved")
}

// Reject refuses a PENDING version, with a reason for its author.
func (s *Service) Reject(ctx context.Context, a actor.Actor, id string, in ReviewInput) (Version, error) {
	return s.transition(ctx, a, id, in, actor.PermMarketReview, []Status{Pending}, Rejected, true, "marketplace.version.rejected")
}

// Yank withdraws an APPROVED version: existing installations keep it, new
// installations and upgrades cannot choose it. Its author or a reviewer may
// yank.
func (s *Service) Yank(ctx context.Context, a actor.Actor, id string, in ReviewInput) (Version, error) {
	v, err := getVersion(ctx, s.db.Read(), id)
	if err != nil {
		return Version{}, err
	}
	perm := actor.PermMarketReview
	if v.SubmittedBy == a.UserID {
		perm = actor.PermMarketSubmit
	}
	return s.transition(ctx, a, id, in, perm, []Status{Approved}, Yanked, true, "marketplace.version.yanked")
}

func (s *Service) transition(ctx context.Context, a actor.Actor, id string, in ReviewInput, perm actor.Permission,
	from []Status, to Status, needReason bool, action string) (Version, error) {
	if err := requirePerm(a, perm); err != nil {
		return Version{}, err
	}
	reason, err := checkReason(in.Reason, needReason)
	if err != nil {
		return Version{}, err
	}
	var out Version
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		v, err := getVersion(ctx, tx, id)
		if err != nil {
			return err
		}
		ok := false
		for _, f := range from {
			ok = ok || v.Status == f
		}
		if !ok {
			return apperr.New(apperr.Conflict, "version %s of %s is %s; it cannot become %s", v.Version, v.Slug, v.Status, to)
		}
		now := db.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE marketplace_versions SET status = $1, review_reason = $2, reviewed_by = $3, reviewed_at = $4
			WHERE id = $5`, string(to), nullable(reason), a.UserID, now, id); err != nil {
			return fmt.Errorf("update version: %w", err)
		}
		if to == Approved {
			m, err := parseStored(v.Manifest)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE marketplace_plugins SET name = $1, description = $2, updated_at = $3 WHERE id = $4`,
				m.Name, m.Description, now, v.PluginID); err != nil {
				return fmt.Errorf("update plugin: %w", err)
			}
		}
		if out, err = getVersion(ctx, tx, id); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "plugin_version", ResourceID: id,
			Metadata: map[string]any{"slug": v.Slug, "version": v.Version, "from": v.Status, "reason": reason}})
	})
	if err != nil {
		return Version{}, apperr.Wrap(err, "review plugin version")
	}
	if to == Yanked {
		s.forget(ctx, out)
	}
	return out, nil
}

// SetFeatured features or unfeatures a marketplace plugin (ADMIN+).
func (s *Service) SetFeatured(ctx context.Context, a actor.Actor, slug string, featured bool) (Entry, error) {
	if err := requirePerm(a, actor.PermMarketFeature); err != nil {
		return Entry{}, err
	}
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE marketplace_plugins SET featured = $1, updated_at = $2 WHERE slug = $3`, featured, db.Now(), slug)
		if err != nil {
			return fmt.Errorf("feature plugin: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.NotFound, "no marketplace plugin %q", slug)
		}
		action := "marketplace.plugin.unfeatured"
		if featured {
			action = "marketplace.plugin.featured"
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "plugin", ResourceID: slug})
	})
	if err != nil {
		return Entry{}, apperr.Wrap(err, "feature plugin")
	}
	return s.plugin(ctx, slug, true)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
