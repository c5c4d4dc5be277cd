package org

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
)

// orgKeyIn is member for an organization's own API key: it is no member,
// but acts in its organization (with the role and scopes authentication
// gave it) and in no other, which answers NOT_FOUND as for an outsider.
func orgKeyIn(ctx context.Context, q db.Querier, a actor.Actor, orgID string) (actor.Actor, Org, error) {
	if orgID != a.OrganizationID {
		return actor.Actor{}, Org{}, errOrgNotFound
	}
	var o Org
	err := q.QueryRowContext(ctx, `SELECT id, name, plan, created_by, created_at, updated_at
		FROM organizations WHERE id = $1 AND deleted_at IS NULL`, orgID).
		Scan(&o.ID, &o.Name, &o.Plan, &o.CreatedBy, &o.CreatedAt, &o.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return actor.Actor{}, Org{}, errOrgNotFound
	}
	if err != nil {
		return actor.Actor{}, Org{}, fmt.Errorf("load organization: %w", err)
	}
	o.CreatedAt, o.UpdatedAt, o.MyRole = o.CreatedAt.UTC(), o.UpdatedAt.UTC(), a.OrgRole
	return a, o, nil
}

// ActIn returns the actor acting in organization orgID, once it is checked
// to hold p there: for a person, by their membership and role. Not a
// member answers NOT_FOUND; a role without p, FORBIDDEN.
func (s *Service) ActIn(ctx context.Context, a actor.Actor, orgID string, p actor.Permission) (actor.Actor, error) {
	in, _, err := require(ctx, s.db.Read(), a, orgID, p)
	return in, err
}
