package org

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

const invitationTTL = 7 * 24 * time.Hour

// Invitation is an invitation as the organization's admins see it; its
// token is only ever in the mail.
type Invitation struct {
	ID           string        `json:"id"`
	Status       string        `json:"status" jsonschema:"enum=pending,enum=accepted,enum=expired,enum=revoked"`
	Email        string        `json:"email"`
	OrgRole      actor.OrgRole `json:"orgRole"`
	DepartmentID string        `json:"departmentId,omitempty"`
	InvitedBy    string        `json:"invitedBy"`
	CreatedAt    time.Time     `json:"createdAt"`
	ExpiresAt    time.Time     `json:"expiresAt"`
}

// InviteInput names who to invite and as what.
type InviteInput struct {
	Email        string        `json:"email"`
	OrgRole      actor.OrgRole `json:"orgRole"`
	DepartmentID string        `json:"departmentId,omitempty"`
}

func newToken() (string, string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	t := base64.RawURLEncoding.EncodeToString(b)
	return t, hashToken(t)
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

func normalizeEmail(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	addr, err := mail.ParseAddress(e)
	if e == "" || len(e) > 254 || err != nil || addr.Address != e || !strings.Contains(e[strings.LastIndexByte(e, '@'):], ".") {
		return "", apperr.Invalid(apperr.FieldError{Field: "email", Message: "is not a valid email address"})
	}
	return e, nil
}

// Invite mails a single-use link (org:members:invite). Inviting an address
// with a pending invitation replaces it; inviting a member is a CONFLICT;
// only an owner invites owners.
func (s *Service) Invite(ctx context.Context, a actor.Actor, orgID string, in InviteInput) (Invitation, error) {
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return Invitation{}, err
	}
	if in.OrgRole == "" {
		in.OrgRole = actor.OrgMember
	}
	if !in.OrgRole.Valid() {
		return Invitation{}, apperr.Invalid(apperr.FieldError{Field: "orgRole", Message: "must be one of ORG_OWNER, ORG_ADMIN, DEPT_MANAGER, ORG_MEMBER"})
	}
	if in.OrgRole == actor.OrgOwner {
		if err := a.RequireReauth("invite an ORG_OWNER"); err != nil {
			return Invitation{}, err
		}
	}
	userID, exists, err := s.accounts.LiveUserIDByEmail(ctx, email)
	if err != nil {
		return Invitation{}, err
	}
	now := db.Now()
	inv := Invitation{ID: ids.New(ids.Invitation), Email: email, OrgRole: in.OrgRole, DepartmentID: in.DepartmentID,
		InvitedBy: a.UserID, CreatedAt: now, ExpiresAt: now.Add(invitationTTL), Status: InvitationPending}
	token, hash := newToken()
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		inOrg, o, err := require(ctx, tx, a, orgID, actor.PermOrgMembersInvite)
		if err != nil {
			return err
		}
		if in.OrgRole == actor.OrgOwner && inOrg.OrgRole != actor.OrgOwner {
			return apperr.New(apperr.Forbidden, "only an ORG_OWNER invites owners")
		}
		if in.DepartmentID != "" {
			if _, err := departmentIn(ctx, tx, orgID, in.DepartmentID); err != nil {
				return apperr.Invalid(apperr.FieldError{Field: "departmentId", Message: "is not a department of this organization"})
			}
		}
		if exists {
			if _, _, err := membershipOf(ctx, tx, orgID, userID); err == nil {
				return apperr.New(apperr.Conflict, "%s is already a member of this organization", email)
			} else if !apperr.Is(err, apperr.NotFound) {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET revoked_at = $1 WHERE organization_id = $2 AND lower(email) = $3
			AND accepted_at IS NULL AND revoked_at IS NULL`, now, orgID, email); err != nil {
			return fmt.Errorf("replace invitation: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO invitations (id, organization_id, email, org_role, department_id, token_hash,
			invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			inv.ID, orgID, email, in.OrgRole, nullable(in.DepartmentID), hash, a.UserID, now, inv.ExpiresAt); err != nil {
			return fmt.Errorf("insert invitation: %w", err)
		}
		if err := audit.Record(ctx, tx, inOrg, audit.Entry{Action: "org.member_invited", Resource: "invitation", ResourceID: inv.ID,
			Metadata: map[string]any{"email": email, "orgRole": in.OrgRole}}); err != nil {
			return err
		}
		return s.mailInvitation(ctx, tx, a, o.Name, email, in.OrgRole, token)
	})
	if err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

// ListInvitations lists the organization's invitations (org:members:invite),
// those with the given status only when status is set, newest first (by
// id), at most limit (1–1000, default 1000) of those after the id after.
func (s *Service) ListInvitations(ctx context.Context, a actor.Actor, orgID, status, after string, limit int) ([]Invitation, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	if !validInvitationFilter(status) {
		return nil, apperr.Invalid(apperr.FieldError{Field: "status", Message: "must be one of pending, accepted, expired, revoked"})
	}
	if _, _, err := require(ctx, s.db.Read(), a, orgID, actor.PermOrgMembersInvite); err != nil {
		return nil, err
	}
	now := db.Now()
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, email, org_role, department_id, invited_by, created_at, expires_at,
		accepted_at IS NOT NULL, revoked_at IS NOT NULL
		FROM invitations WHERE organization_id = $1 AND ($5 = '' OR `+invitationStatusSQL+` = $5)
		AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4`, orgID, now, after, limit, status)
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	defer rows.Close()
	out := []Invitation{}
	for rows.Next() {
		var inv Invitation
		var dept sql.NullString
		var accepted, revoked bool
		if err := rows.Scan(&inv.ID, &inv.Email, &inv.OrgRole, &dept, &inv.InvitedBy, &inv.CreatedAt, &inv.ExpiresAt,
			&accepted, &revoked); err != nil {
			return nil, fmt.Errorf("scan invitation: %w", err)
		}
		inv.DepartmentID, inv.CreatedAt, inv.ExpiresAt = dept.String, inv.CreatedAt.UTC(), inv.ExpiresAt.UTC()
		inv.Status = invitationStatus(accepted, revoked, inv.ExpiresAt, now)
		out = append(out, inv)
	}
	return out, rows.Err()
}

// RevokeInvitation withdraws a pending invitation (org:members:invite).
func (s *Service) RevokeInvitation(ctx context.Context, a actor.Actor, orgID, invID string) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		in, _, err := require(ctx, tx, a, orgID, actor.PermOrgMembersInvite)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE invitations SET revoked_at = $1 WHERE id = $2 AND organization_id = $3
			AND accepted_at IS NULL AND revoked_at IS NULL`, db.Now(), invID, orgID)
		if err != nil {
			return fmt.Errorf("revoke invitation: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.NotFound, "no pending invitation with this id")
		}
		return audit.Record(ctx, tx, in, audit.Entry{Action: "org.invitation_revoked", Resource: "invitation", ResourceID: invID})
	})
}

var errBadInvitation = apperr.Invalid(apperr.FieldError{Field: "token", Message: "is invalid, expired, revoked or already used"})

type pendingInvite struct {
	id, orgID, email, dept string
	role                   actor.OrgRole
}

// claim marks the invitation used, once, and returns it.
func claim(ctx context.Context, tx *db.Tx, token, userID string) (pendingInvite, error) {
	var p pendingInvite
	var dept sql.NullString
	now := db.Now()
	err := tx.QueryRowContext(ctx, `UPDATE invitations SET accepted_at = $1, accepted_by = $2
		WHERE token_hash = $3 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1
		AND organization_id IN (SELECT id FROM organizations WHERE deleted_at IS NULL)
		RETURNING id, organization_id, email, org_role, department_id`, now, nullable(userID), hashToken(token)).
		Scan(&p.id, &p.orgID, &p.email, &p.role, &dept)
	if errors.Is(err, sql.ErrNoRows) {
		return p, errBadInvitation
	}
	if err != nil {
		return p, fmt.Errorf("claim invitation: %w", err)
	}
	p.dept = dept.String
	return p, nil
}

// Accept joins the signed-in actor to the organization of the invitation.
// The actor's email must be the invited one.
func (s *Service) Accept(ctx context.Context, a actor.Actor, token string) (Org, error) {
	if token == "" {
		return Org{}, apperr.Invalid(apperr.FieldError{Field: "token", Message: "is required"})
	}
	var orgID string
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		p, err := claim(ctx, tx, token, a.UserID)
		if err != nil {
			return err
		}
		if !strings.EqualFold(p.email, a.Email) {
			return apperr.New(apperr.Forbidden, "this invitation is for another email address; sign in as %s", p.email)
		}
		if err := lockOrg(ctx, tx, p.orgID); err != nil {
			return err
		}
		if err := addMember(ctx, tx, p.orgID, a.UserID, p.role, p.dept); err != nil {
			return err
		}
		orgID = p.orgID
		return audit.Record(ctx, tx, a, audit.Entry{Action: "org.member_joined", Resource: "membership", ResourceID: a.UserID,
			OrganizationID: p.orgID, Metadata: map[string]any{"invitationId": p.id, "orgRole": p.role}})
	})
	if err != nil {
		return Org{}, err
	}
	return s.Get(ctx, a, orgID)
}

// AcceptSignupInput creates an account through an invitation link.
type AcceptSignupInput struct {
	Token    string `json:"token"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

// AcceptWithSignup creates an account for the invited address (verified:
// the link proves the mailbox) and joins the organization, in one
// transaction. It returns the new account's id and email; the caller signs
// in.
func (s *Service) AcceptWithSignup(ctx context.Context, a actor.Actor, in AcceptSignupInput) (userID, email string, err error) {
	if in.Token == "" {
		return "", "", apperr.Invalid(apperr.FieldError{Field: "token", Message: "is required"})
	}
	hash, err := s.accounts.PreparePassword("password", in.Password)
	if err != nil {
		return "", "", err
	}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		p, err := claim(ctx, tx, in.Token, "")
		if err != nil {
			return err
		}
		email = p.email
		if userID, err = s.accounts.CreateVerifiedUserTx(ctx, tx, a, p.email, in.Name, hash); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET accepted_by = $1 WHERE id = $2`, userID, p.id); err != nil {
			return fmt.Errorf("record invitee: %w", err)
		}
		if err := lockOrg(ctx, tx, p.orgID); err != nil {
			return err
		}
		if err := addMember(ctx, tx, p.orgID, userID, p.role, p.dept); err != nil {
			return err
		}
		joined := a
		joined.UserID = userID
		return audit.Record(ctx, tx, joined, audit.Entry{Action: "org.member_joined", Resource: "membership", ResourceID: userID,
			OrganizationID: p.orgID, Metadata: map[string]any{"invitationId": p.id, "orgRole": p.role, "signedUp": true}})
	})
	return userID, email, err
}
