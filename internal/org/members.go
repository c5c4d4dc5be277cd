package org

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

// Member is one membership as the organization's members see it.
type Member struct {
	UserID       string        `json:"userId"`
	Email        string        `json:"email"`
	Name         string        `json:"name"`
	OrgRole      actor.OrgRole `json:"orgRole"`
	DepartmentID string        `json:"departmentId,omitempty"`
	JoinedAt     time.Time     `json:"joinedAt"`
	// HasFactor: the member has a second factor (confirmed TOTP, or a
	// passkey).
	HasFactor bool `json:"hasFactor"`
}

// ListMembers lists an organization's members (any member may), by user id,
// at most limit (1–5000, default 5000) of those after the user id after.
func (s *Service) ListMembers(ctx context.Context, a actor.Actor, orgID, after string, limit int) ([]Member, error) {
	if limit <= 0 || limit > 5000 {
		limit = 5000
	}
	if _, _, err := require(ctx, s.db.Read(), a, orgID, actor.PermOrgRead); err != nil {
		return nil, err
	}
	// Names and emails come from the accounts table: a member list without
	// them would be useless, and this read is one indexed join.
	rows, err := s.db.Read().QueryContext(ctx, `SELECT m.user_id, u.email, u.name, m.org_role, m.department_id, m.created_at,
		`+s.accounts.HasFactorSQL("m.user_id")+`
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.organization_id = $1 AND u.deleted_at IS NULL AND ($2 = '' OR m.user_id > $2)
		ORDER BY m.user_id LIMIT $3`, orgID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		var m Member
		var dept sql.NullString
		if err := rows.Scan(&m.UserID, &m.Email, &m.Name, &m.OrgRole, &dept, &m.JoinedAt, &m.HasFactor); err != nil {
			return nil, fmt.Errorf("scan member: %w", err)
		}
		m.DepartmentID, m.JoinedAt = dept.String, m.JoinedAt.UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// lockOrg serializes membership changes of one organization, so two owners
// demoting each other at once cannot leave it without an owner.
func lockOrg(ctx context.Context, tx *db.Tx, orgID string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE organizations SET updated_at = updated_at WHERE id = $1`, orgID); err != nil {
		return fmt.Errorf("lock organization: %w", err)
	}
	return nil
}

func membershipOf(ctx context.Context, q db.Querier, orgID, userID string) (actor.OrgRole, string, error) {
	var role actor.OrgRole
	var dept sql.NullString
	err := q.QueryRowContext(ctx, `SELECT org_role, department_id FROM memberships WHERE organization_id = $1 AND user_id = $2`,
		orgID, userID).Scan(&role, &dept)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", apperr.New(apperr.NotFound, "member not found")
	}
	if err != nil {
		return "", "", fmt.Errorf("load membership: %w", err)
	}
	return role, dept.String, nil
}

func countOwners(ctx context.Context, q db.Querier, orgID string) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM memberships WHERE organization_id = $1 AND org_role = $2`,
		orgID, actor.OrgOwner).Scan(&n); err != nil {
		return 0, fmt.Errorf("count owners: %w", err)
	}
	return n, nil
}

// ChangeRole sets a member's org role (org:members:manage). Only an owner
// makes or unmakes owners, and the last owner keeps the role.
func (s *Service) ChangeRole(ctx context.Context, a actor.Actor, orgID, userID string, role actor.OrgRole) (Member, error) {
	if !role.Valid() {
		return Member{}, apperr.Invalid(apperr.FieldError{Field: "orgRole", Message: "must be one of ORG_OWNER, ORG_ADMIN, DEPT_MANAGER, ORG_MEMBER"})
	}
	if role == actor.OrgOwner {
		if err := a.RequireReauth("make someone ORG_OWNER"); err != nil {
			return Member{}, err
		}
	}
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		in, _, err := require(ctx, tx, a, orgID, actor.PermOrgMembersManage)
		if err != nil {
			return err
		}
		cur, _, err := membershipOf(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		if cur == role {
			return nil
		}
		if (role == actor.OrgOwner || cur == actor.OrgOwner) && in.OrgRole != actor.OrgOwner {
			return apperr.New(apperr.Forbidden, "only an ORG_OWNER makes or unmakes owners")
		}
		if cur == actor.OrgOwner {
			n, err := countOwners(ctx, tx, orgID)
			if err != nil {
				return err
			}
			if n <= 1 {
				return apperr.New(apperr.Conflict, "the last owner cannot be demoted; make another member owner first")
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE memberships SET org_role = $1, updated_at = $2 WHERE organization_id = $3 AND user_id = $4`,
			role, db.Now(), orgID, userID); err != nil {
			return fmt.Errorf("change role: %w", err)
		}
		if err := syncPrimary(ctx, tx, userID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, in, audit.Entry{Action: "org.member_role_changed", Resource: "membership", ResourceID: userID,
			Metadata: audit.WithDiff(map[string]any{"from": cur, "to": role},
				map[string]any{"orgRole": cur}, map[string]any{"orgRole": role})})
	})
	if err != nil {
		return Member{}, err
	}
	return s.memberView(ctx, orgID, userID)
}

func (s *Service) memberView(ctx context.Context, orgID, userID string) (Member, error) {
	var m Member
	var dept sql.NullString
	err := s.db.Read().QueryRowContext(ctx, `SELECT m.user_id, u.email, u.name, m.org_role, m.department_id, m.created_at,
		`+s.accounts.HasFactorSQL("m.user_id")+`
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 AND m.user_id = $2`, orgID, userID).
		Scan(&m.UserID, &m.Email, &m.Name, &m.OrgRole, &dept, &m.JoinedAt, &m.HasFactor)
	if errors.Is(err, sql.ErrNoRows) {
		return Member{}, apperr.New(apperr.NotFound, "member not found")
	}
	if err != nil {
		return Member{}, fmt.Errorf("load member: %w", err)
	}
	m.DepartmentID, m.JoinedAt = dept.String, m.JoinedAt.UTC()
	return m, nil
}

// RemoveMember takes a member out of the organization
// (org:members:manage; owners only by an owner; never the last owner). The
// removed member's tokens for this organization stop working at once.
func (s *Service) RemoveMember(ctx context.Context, a actor.Actor, orgID, userID string) error {
	if userID == a.UserID {
		return s.Leave(ctx, a, orgID)
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		in, _, err := require(ctx, tx, a, orgID, actor.PermOrgMembersManage)
		if err != nil {
			return err
		}
		cur, _, err := membershipOf(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		if cur == actor.OrgOwner && in.OrgRole != actor.OrgOwner {
			return apperr.New(apperr.Forbidden, "only an ORG_OWNER removes an owner")
		}
		return removeMembership(ctx, tx, in, orgID, userID, cur, "org.member_removed")
	})
}

// Leave takes the actor out of an organization; the last owner cannot leave.
func (s *Service) Leave(ctx context.Context, a actor.Actor, orgID string) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		in, _, err := membership(ctx, tx, a, orgID)
		if err != nil {
			return err
		}
		return removeMembership(ctx, tx, in, orgID, a.UserID, in.OrgRole, "org.member_left")
	})
}

func removeMembership(ctx context.Context, tx *db.Tx, in actor.Actor, orgID, userID string, role actor.OrgRole, action string) error {
	if role == actor.OrgOwner {
		n, err := countOwners(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if n <= 1 {
			return apperr.New(apperr.Conflict, "the last owner cannot leave or be removed; make another member owner, or delete the organization")
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2`, orgID, userID); err != nil {
		return fmt.Errorf("remove membership: %w", err)
	}
	if err := syncPrimary(ctx, tx, userID); err != nil {
		return err
	}
	return audit.Record(ctx, tx, in, audit.Entry{Action: action, Resource: "membership", ResourceID: userID,
		Metadata: map[string]any{"orgRole": role}})
}
