// Package org owns organizations: shared workspaces with members, org
// roles, departments and invitations. Every check on an organization uses
// the actor's role in *that* organization, read fresh from the database, so
// a membership change takes effect on the next request.
package org

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/mail"
)

// Accounts is what this package needs from the accounts service.
type Accounts interface {
	// LiveUserIDByEmail returns the id of the live account using email, if any.
	LiveUserIDByEmail(ctx context.Context, email string) (string, bool, error)
	// PreparePassword validates a new password and hashes it.
	PreparePassword(field, password string) (string, error)
	// CreateVerifiedUserTx creates an account whose email is already proven
	// (the invitee received the mail), inside tx, from a prepared hash.
	CreateVerifiedUserTx(ctx context.Context, tx *db.Tx, a actor.Actor, email, name, passwordHash string) (string, error)
	// HasFactorSQL is an SQL boolean expression, true when the account
	// whose id is the column userCol has a usable second factor.
	HasFactorSQL(userCol string) string
}

// Service implements organizations.
type Service struct {
	db        *db.DB
	mail      *mail.Queue
	accounts  Accounts
	log       *slog.Logger
	publicURL string
	// workspaces ends a deleted organization's automations (lifecycle.go).
	workspaces Workspaces
}

// New returns the service, which mails invitations through m.
func New(d *db.DB, m *mail.Queue, accounts Accounts, log *slog.Logger, publicURL string) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: d, mail: m, accounts: accounts, log: log, publicURL: strings.TrimRight(publicURL, "/")}
}

// Org is an organization as its members see it.
type Org struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Plan      actor.Plan `json:"plan"`
	CreatedBy string     `json:"createdBy"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
	// MyRole is the caller's role in the organization.
	MyRole actor.OrgRole `json:"myRole,omitempty"`
	// MyDepartmentID is the caller's department, if any.
	MyDepartmentID string `json:"myDepartmentId,omitempty"`
	// Require2FA: every member needs a second factor; a member without one
	// gets MFA_REQUIRED on the organization's routes until they enroll.
	Require2FA bool `json:"require2fa"`
}

func checkOrgName(raw string) (string, error) {
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

var errOrgNotFound = apperr.New(apperr.NotFound, "organization not found")

// member loads the actor's membership in orgID and returns the actor acting
// in that organization. Not a member, or a deleted organization, answers
// NOT_FOUND: an outsider cannot tell it exists. In an organization that
// requires a second factor, a member without one gets MFA_REQUIRED.
func member(ctx context.Context, q db.Querier, a actor.Actor, orgID string) (actor.Actor, Org, error) {
	// An organization's own key is not a member: the second-factor policy
	// binds people, and the key was made by one who met it.
	if a.OrgKey {
		return orgKeyIn(ctx, q, a, orgID)
	}
	in, o, err := membership(ctx, q, a, orgID)
	if err != nil {
		return actor.Actor{}, Org{}, err
	}
	if o.Require2FA && !a.HasSecondFactor && !a.System {
		return actor.Actor{}, Org{}, errMFARequired
	}
	return in, o, nil
}

var errMFARequired = apperr.New(apperr.MFARequired,
	"this organization requires a second factor: set one up (POST /api/v1/me/2fa/totp, or add a passkey) to use it")

// membership is member without the second-factor policy: what a member
// without a factor may still do (see the organization, leave it).
func membership(ctx context.Context, q db.Querier, a actor.Actor, orgID string) (actor.Actor, Org, error) {
	if a.OrgKey {
		return orgKeyIn(ctx, q, a, orgID)
	}
	var o Org
	var dept sql.NullString
	err := q.QueryRowContext(ctx, `SELECT o.id, o.name, o.plan, o.created_by, o.created_at, o.updated_at, m.org_role, m.department_id, o.require_2fa
		FROM organizations o JOIN memberships m ON m.organization_id = o.id
		WHERE o.id = $1 AND m.user_id = $2 AND o.deleted_at IS NULL`, orgID, a.UserID).
		Scan(&o.ID, &o.Name, &o.Plan, &o.CreatedBy, &o.CreatedAt, &o.UpdatedAt, &o.MyRole, &dept, &o.Require2FA)
	if errors.Is(err, sql.ErrNoRows) {
		return actor.Actor{}, Org{}, errOrgNotFound
	}
	if err != nil {
		return actor.Actor{}, Org{}, fmt.Errorf("load membership: %w", err)
	}
	o.CreatedAt, o.UpdatedAt, o.MyDepartmentID = o.CreatedAt.UTC(), o.UpdatedAt.UTC(), dept.String
	return a.InOrg(o.ID, o.MyRole, dept.String, o.Plan), o, nil
}

// require returns the actor in orgID if it holds p there.
func require(ctx context.Context, q db.Querier, a actor.Actor, orgID string, p actor.Permission) (actor.Actor, Org, error) {
	in, o, err := member(ctx, q, a, orgID)
	if err != nil {
		return actor.Actor{}, Org{}, err
	}
	if !in.Can(p) {
		return actor.Actor{}, Org{}, apperr.New(apperr.Forbidden, "your role %s in this organization lacks %s", in.OrgRole, p)
	}
	return in, o, nil
}

// Create makes an organization with the actor as its ORG_OWNER.
func (s *Service) Create(ctx context.Context, a actor.Actor, name string) (Org, error) {
	n, err := checkOrgName(name)
	if err != nil {
		return Org{}, err
	}
	if a.ImpersonatorID != "" {
		return Org{}, apperr.New(apperr.Forbidden, "an impersonation session cannot create organizations")
	}
	now := db.Now()
	o := Org{ID: ids.New(ids.Organization), Name: n, Plan: actor.Free, CreatedBy: a.UserID, CreatedAt: now, UpdatedAt: now, MyRole: actor.OrgOwner}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO organizations (id, name, plan, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)`, o.ID, o.Name, o.Plan, a.UserID, now); err != nil {
			return fmt.Errorf("insert organization: %w", err)
		}
		if err := addMember(ctx, tx, o.ID, a.UserID, actor.OrgOwner, ""); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "org.created", Resource: "organization", ResourceID: o.ID,
			OrganizationID: o.ID, Metadata: map[string]any{"name": n}})
	})
	return o, err
}

// addMember inserts a membership and makes it the user's primary one if
// they have none.
func addMember(ctx context.Context, tx *db.Tx, orgID, userID string, role actor.OrgRole, deptID string) error {
	now := db.Now()
	_, err := tx.ExecContext(ctx, `INSERT INTO memberships (organization_id, user_id, org_role, department_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5)`, orgID, userID, role, nullable(deptID), now)
	if db.IsUniqueViolation(err) {
		return apperr.New(apperr.Conflict, "the user is already a member of this organization")
	}
	if err != nil {
		return fmt.Errorf("insert membership: %w", err)
	}
	return syncPrimary(ctx, tx, userID)
}

// syncPrimary points users.organization_id / org_role / department_id at
// the user's oldest live membership (or clears them), keeping the
// single-membership columns true as memberships come and go.
func syncPrimary(ctx context.Context, tx *db.Tx, userID string) error {
	var orgID, role, dept sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT m.organization_id, m.org_role, m.department_id FROM memberships m
		JOIN organizations o ON o.id = m.organization_id
		WHERE m.user_id = $1 AND o.deleted_at IS NULL ORDER BY m.created_at, m.organization_id LIMIT 1`, userID).Scan(&orgID, &role, &dept)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("find primary membership: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET organization_id = $1, org_role = $2, department_id = $3 WHERE id = $4`,
		orgID, role, dept, userID); err != nil {
		return fmt.Errorf("set primary membership: %w", err)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Get returns an organization the actor belongs to.
func (s *Service) Get(ctx context.Context, a actor.Actor, id string) (Org, error) {
	_, o, err := membership(ctx, s.db.Read(), a, id)
	return o, err
}

// ListMine lists the organizations the actor belongs to, oldest membership
// first.
func (s *Service) ListMine(ctx context.Context, a actor.Actor) ([]Org, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT o.id, o.name, o.plan, o.created_by, o.created_at, o.updated_at, m.org_role, m.department_id,
		o.require_2fa FROM organizations o JOIN memberships m ON m.organization_id = o.id
		WHERE m.user_id = $1 AND o.deleted_at IS NULL ORDER BY m.created_at, o.id LIMIT 500`, a.UserID)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	defer rows.Close()
	out := []Org{}
	for rows.Next() {
		var o Org
		var dept sql.NullString
		if err := rows.Scan(&o.ID, &o.Name, &o.Plan, &o.CreatedBy, &o.CreatedAt, &o.UpdatedAt, &o.MyRole, &dept, &o.Require2FA); err != nil {
			return nil, fmt.Errorf("scan organization: %w", err)
		}
		o.CreatedAt, o.UpdatedAt, o.MyDepartmentID = o.CreatedAt.UTC(), o.UpdatedAt.UTC(), dept.String
		out = append(out, o)
	}
	return out, rows.Err()
}

// Rename changes an organization's name (org:manage).
func (s *Service) Rename(ctx context.Context, a actor.Actor, id, name string) (Org, error) {
	n, err := checkOrgName(name)
	if err != nil {
		return Org{}, err
	}
	var o Org
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		in, cur, err := require(ctx, tx, a, id, actor.PermOrgManage)
		if err != nil {
			return err
		}
		o = cur
		if cur.Name == n {
			return nil
		}
		now := db.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE organizations SET name = $1, updated_at = $2 WHERE id = $3`, n, now, id); err != nil {
			return fmt.Errorf("rename organization: %w", err)
		}
		o.Name, o.UpdatedAt = n, now
		return audit.Record(ctx, tx, in, audit.Entry{Action: "org.renamed", Resource: "organization", ResourceID: id,
			Metadata: audit.WithDiff(map[string]any{"from": cur.Name, "to": n},
				map[string]any{"name": cur.Name}, map[string]any{"name": n})})
	})
	return o, err
}

// Delete soft-deletes an organization (ORG_OWNER only). Its members keep
// their personal workspaces; sessions acting in it stop working at once,
// and in the same transaction its automations end (webhooks, schedules,
// subscriptions, queued runs, gateway registrations).
func (s *Service) Delete(ctx context.Context, a actor.Actor, id string) error {
	if err := a.RequireReauth("delete an organization"); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		in, o, err := require(ctx, tx, a, id, actor.PermOrgDelete)
		if err != nil {
			return err
		}
		now := db.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE organizations SET deleted_at = $1, updated_at = $1 WHERE id = $2`, now, id); err != nil {
			return fmt.Errorf("delete organization: %w", err)
		}
		// Pending invitations die with the organization.
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET revoked_at = $1 WHERE organization_id = $2
			AND accepted_at IS NULL AND revoked_at IS NULL`, now, id); err != nil {
			return fmt.Errorf("revoke invitations: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT user_id FROM memberships WHERE organization_id = $1`, id)
		if err != nil {
			return fmt.Errorf("list members: %w", err)
		}
		var users []string
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return err
			}
			users = append(users, u)
		}
		rows.Close()
		for _, u := range users {
			if err := syncPrimary(ctx, tx, u); err != nil {
				return err
			}
		}
		if err := audit.Record(ctx, tx, in, audit.Entry{Action: "org.deleted", Resource: "organization", ResourceID: id,
			Metadata: map[string]any{"name": o.Name, "members": len(users)}}); err != nil {
			return err
		}
		return s.endWorkspace(ctx, tx, in, id)
	})
}

// AuditLog lists the organization's audit events (org:audit:read: owners
// and admins).
func (s *Service) AuditLog(ctx context.Context, a actor.Actor, orgID string, f audit.Filter) (audit.Page, error) {
	if _, _, err := require(ctx, s.db.Read(), a, orgID, actor.PermOrgAuditRead); err != nil {
		return audit.Page{}, err
	}
	f.OrganizationID = orgID
	return audit.List(ctx, s.db.Read(), f)
}

// VerifyAuditLog checks the organization's rows of the audit chain
// (org:audit:read).
func (s *Service) VerifyAuditLog(ctx context.Context, a actor.Actor, orgID string) (audit.VerifyResult, error) {
	if _, _, err := require(ctx, s.db.Read(), a, orgID, actor.PermOrgAuditRead); err != nil {
		return audit.VerifyResult{}, err
	}
	return audit.VerifyScope(ctx, s.db.Read(), audit.Scope{OrganizationID: orgID})
}

// SetRequire2FA turns the organization's second-factor policy on or off
// (ORG_OWNER, re-authenticated). An owner without a factor cannot turn it
// on: they would lock themselves out. The organization's automations keep
// running either way; the policy binds people, not workers.
func (s *Service) SetRequire2FA(ctx context.Context, a actor.Actor, id string, on bool) (Org, error) {
	var o Org
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		in, cur, err := require(ctx, tx, a, id, actor.PermOrgManage)
		if err != nil {
			return err
		}
		if in.OrgRole != actor.OrgOwner {
			return apperr.New(apperr.Forbidden, "only an ORG_OWNER changes the second-factor policy")
		}
		if err := a.RequireReauth("change the organization's second-factor policy"); err != nil {
			return err
		}
		o = cur
		if cur.Require2FA == on {
			return nil
		}
		if on && !a.HasSecondFactor {
			return apperr.New(apperr.Conflict, "set up your own second factor first (POST /api/v1/me/2fa/totp, or add a passkey)")
		}
		now := db.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE organizations SET require_2fa = $1, updated_at = $2 WHERE id = $3`, on, now, id); err != nil {
			return fmt.Errorf("set second-factor policy: %w", err)
		}
		o.Require2FA, o.UpdatedAt = on, now
		return audit.Record(ctx, tx, in, audit.Entry{Action: "org.require_2fa_changed", Resource: "organization", ResourceID: id,
			Metadata: audit.WithDiff(map[string]any{"from": cur.Require2FA, "to": on},
				map[string]any{"require2fa": cur.Require2FA}, map[string]any{"require2fa": on})})
	})
	return o, err
}
