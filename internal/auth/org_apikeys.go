package auth

import (
	"context"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
)

// An organization's own API keys act as the organization: the key is the
// actor (its id stands where a user id would), in the organization's
// workspace with ORG_ADMIN's rights narrowed by its scopes, and never in
// anyone's personal workspace or another organization. Members come and
// go without touching them: only revocation, expiry or the organization's
// deletion ends one.

// orgKeyRole is the organization role an organization's key acts with; its
// scopes narrow it further, and no scope reaches what only ORG_OWNER may do.
const orgKeyRole = actor.OrgAdmin

// requireOrgKeys checks that a is a person acting in an organization who
// may manage its keys.
func requireOrgKeys(a actor.Actor) error {
	if a.OrganizationID == "" {
		return apperr.New(apperr.NotFound, "organization not found")
	}
	if !a.Can(actor.PermOrgAPIKeys) {
		return apperr.New(apperr.Forbidden, "your role %s in this organization lacks %s", a.OrgRole, actor.PermOrgAPIKeys)
	}
	return nil
}

// CreateOrgAPIKey issues a key the organization a acts in owns. a is the
// creator acting in that organization (org.Service.ActIn) and must hold
// org:apikeys:manage (ORG_ADMIN+); the key's scopes must be within what
// the creator may do there. The key is in the answer only.
func (s *Service) CreateOrgAPIKey(ctx context.Context, a actor.Actor, in CreateAPIKeyInput) (CreatedAPIKey, error) {
	if err := requireOrgKeys(a); err != nil {
		return CreatedAPIKey{}, err
	}
	return s.createKey(ctx, a, a.OrganizationID, in)
}

// ListOrgAPIKeys lists the live keys of the organization a acts in,
// newest first.
func (s *Service) ListOrgAPIKeys(ctx context.Context, a actor.Actor) ([]APIKey, error) {
	if err := requireOrgKeys(a); err != nil {
		return nil, err
	}
	return s.listKeys(ctx, `organization_id = $1`, a.OrganizationID, true)
}

// RevokeOrgAPIKey revokes one of the organization's keys; any other key id
// answers NOT_FOUND. Recorded in the organization's audit log.
func (s *Service) RevokeOrgAPIKey(ctx context.Context, a actor.Actor, id string) error {
	if err := requireOrgKeys(a); err != nil {
		return err
	}
	return s.revokeKey(ctx, a, id, `organization_id = $3`, a.OrganizationID)
}
