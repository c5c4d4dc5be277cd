package org

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	mailer "github.com/switchboard/switchboard/internal/mail"
)

// The statuses of an invitation. Accepted and revoked rows are kept, so an
// organization's admins see what became of each one.
const (
	InvitationPending  = "pending"
	InvitationAccepted = "accepted"
	InvitationExpired  = "expired"
	InvitationRevoked  = "revoked"
)

// invitationStatusSQL is invitationStatus in SQL ($2 is now), for the
// list's status filter.
const invitationStatusSQL = `CASE WHEN accepted_at IS NOT NULL THEN 'accepted' WHEN revoked_at IS NOT NULL THEN 'revoked'
	WHEN expires_at <= $2 THEN 'expired' ELSE 'pending' END`

func validInvitationFilter(status string) bool {
	switch status {
	case "", InvitationPending, InvitationAccepted, InvitationExpired, InvitationRevoked:
		return true
	}
	return false
}

func invitationStatus(accepted, revoked bool, expiresAt, now time.Time) string {
	switch {
	case accepted:
		return InvitationAccepted
	case revoked:
		return InvitationRevoked
	case !expiresAt.After(now):
		return InvitationExpired
	}
	return InvitationPending
}

// resendCooldown is how soon an invitation may be mailed again: enough to
// stop a double click or a script from flooding the invitee's inbox.
const resendCooldown = time.Minute

// mailInvitation enqueues the invitation mail in tx, its token sealed in
// the job.
func (s *Service) mailInvitation(ctx context.Context, tx *db.Tx, a actor.Actor, orgName, email string, role actor.OrgRole, token string) error {
	link := s.publicURL + "/invitations/accept?token=" + url.QueryEscape(token)
	return s.mail.Enqueue(ctx, tx, mailer.Message{To: email, Subject: fmt.Sprintf("You are invited to %s on Switchboard", orgName),
		Text: fmt.Sprintf("Hello,\n\n%s invited you to join the organization %q on Switchboard as %s.\n\n"+
			"Accept within 7 days by opening:\n\n%s\n\nOr send the token to POST /api/v1/invitations/accept "+
			"(signed in with this address) or POST /api/v1/invitations/accept-signup (to create an account):\n\n%s\n",
			a.Email, orgName, role, link, token)})
}

// ResendInvitation mails a pending or expired invitation again with a new
// token valid 7 days (org:members:invite; only an owner for an owner's
// invitation). The old link stops working. Mailing sets the expiry, so the
// last send is expiry minus the TTL, and a send within resendCooldown of it
// is refused.
func (s *Service) ResendInvitation(ctx context.Context, a actor.Actor, orgID, invID string) (Invitation, error) {
	var inv Invitation
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		inOrg, o, err := require(ctx, tx, a, orgID, actor.PermOrgMembersInvite)
		if err != nil {
			return err
		}
		var dept sql.NullString
		var accepted, revoked bool
		err = tx.QueryRowContext(ctx, `SELECT id, email, org_role, department_id, invited_by, created_at, expires_at,
			accepted_at IS NOT NULL, revoked_at IS NOT NULL FROM invitations WHERE id = $1 AND organization_id = $2`, invID, orgID).
			Scan(&inv.ID, &inv.Email, &inv.OrgRole, &dept, &inv.InvitedBy, &inv.CreatedAt, &inv.ExpiresAt, &accepted, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "no invitation with this id in this organization")
		}
		if err != nil {
			return fmt.Errorf("load invitation: %w", err)
		}
		now := db.Now()
		switch invitationStatus(accepted, revoked, inv.ExpiresAt, now) {
		case InvitationAccepted:
			return apperr.New(apperr.Conflict, "the invitation was already accepted")
		case InvitationRevoked:
			return apperr.New(apperr.Conflict, "the invitation was revoked or replaced; invite the address again")
		}
		if inv.OrgRole == actor.OrgOwner && inOrg.OrgRole != actor.OrgOwner {
			return apperr.New(apperr.Forbidden, "only an ORG_OWNER invites owners")
		}
		if sent := inv.ExpiresAt.Add(-invitationTTL); now.Sub(sent) < resendCooldown {
			return apperr.New(apperr.RateLimited, "the invitation was mailed less than a minute ago; try again later")
		}
		token, hash := newToken()
		inv.ExpiresAt = now.Add(invitationTTL)
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET token_hash = $1, expires_at = $2 WHERE id = $3`,
			hash, inv.ExpiresAt, inv.ID); err != nil {
			return fmt.Errorf("renew invitation: %w", err)
		}
		inv.DepartmentID, inv.CreatedAt, inv.ExpiresAt, inv.Status = dept.String, inv.CreatedAt.UTC(), inv.ExpiresAt.UTC(), InvitationPending
		if err := audit.Record(ctx, tx, inOrg, audit.Entry{Action: "org.invitation_resent", Resource: "invitation", ResourceID: inv.ID,
			Metadata: map[string]any{"email": inv.Email}}); err != nil {
			return err
		}
		return s.mailInvitation(ctx, tx, a, o.Name, inv.Email, inv.OrgRole, token)
	})
	if err != nil {
		return Invitation{}, err
	}
	return inv, nil
}
