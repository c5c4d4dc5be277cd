package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

// UserFilter narrows the admin user listing.
type UserFilter struct {
	// Query matches a part of the email or name, case-insensitively.
	Query string
	Role  actor.Role
	Plan  actor.Plan
	// Active filters on is_active when set.
	Active *bool
	// Deleted is "exclude" (default), "include" or "only".
	Deleted string
	Cursor  string
	Limit   int
}

// UserPage is one page of users, newest first.
type UserPage struct {
	Items      []User  `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

func requirePerm(a actor.Actor, p actor.Permission) error {
	if !a.Can(p) {
		return apperr.New(apperr.Forbidden, "you lack the permission %s", p)
	}
	return nil
}

// ListUsers searches accounts (users:read).
func (s *Service) ListUsers(ctx context.Context, a actor.Actor, f UserFilter) (UserPage, error) {
	if err := requirePerm(a, actor.PermUsersRead); err != nil {
		return UserPage{}, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	if limit > 200 {
		limit = 200
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if q := strings.ToLower(strings.TrimSpace(f.Query)); q != "" {
		pat := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(q) + "%"
		args = append(args, pat)
		where = append(where, fmt.Sprintf(`(lower(email) LIKE $%d ESCAPE '\' OR lower(name) LIKE $%d ESCAPE '\')`, len(args), len(args)))
	}
	if f.Role != "" {
		if !f.Role.Valid() {
			return UserPage{}, apperr.Invalid(apperr.FieldError{Field: "role", Message: "is not a platform role"})
		}
		add("role = $%d", f.Role)
	}
	if f.Plan != "" {
		if !f.Plan.Valid() {
			return UserPage{}, apperr.Invalid(apperr.FieldError{Field: "plan", Message: "is not a plan"})
		}
		add("plan = $%d", f.Plan)
	}
	if f.Active != nil {
		add("is_active = $%d", *f.Active)
	}
	switch f.Deleted {
	case "", "exclude":
		where = append(where, "deleted_at IS NULL")
	case "only":
		where = append(where, "deleted_at IS NOT NULL")
	case "include":
	default:
		return UserPage{}, apperr.Invalid(apperr.FieldError{Field: "deleted", Message: "must be exclude, include or only"})
	}
	if f.Cursor != "" {
		add("id < $%d", f.Cursor)
	}
	q := `SELECT ` + userColumns + ` FROM users`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", limit+1)
	rows, err := s.db.Read().QueryContext(ctx, q, args...)
	if err != nil {
		return UserPage{}, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	page := UserPage{Items: []User{}}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return UserPage{}, fmt.Errorf("scan user: %w", err)
		}
		page.Items = append(page.Items, u)
	}
	if err := rows.Err(); err != nil {
		return UserPage{}, err
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		next := page.Items[limit-1].ID
		page.NextCursor = &next
	}
	return page, nil
}

// GetUser returns any account, deleted ones included (users:read).
func (s *Service) GetUser(ctx context.Context, a actor.Actor, id string) (User, error) {
	if err := requirePerm(a, actor.PermUsersRead); err != nil {
		return User{}, err
	}
	return userByID(ctx, s.db.Read(), id)
}

// AdminUpdateInput changes an account's role, plan or active state.
type AdminUpdateInput struct {
	Role     *actor.Role `json:"role,omitempty"`
	Plan     *actor.Plan `json:"plan,omitempty"`
	IsActive *bool       `json:"isActive,omitempty"`
}

// canManage says whether the actor may change target: nobody changes
// their own standing, and only a SUPER_ADMIN touches admins.
func canManage(a actor.Actor, target User) error {
	if target.ID == a.UserID {
		return apperr.New(apperr.Forbidden, "you cannot change your own role, plan or status; ask another admin")
	}
	if (target.Role == actor.SuperAdmin || target.Role == actor.Admin) && a.Role != actor.SuperAdmin {
		return apperr.New(apperr.Forbidden, "only a SUPER_ADMIN may change an admin account")
	}
	return nil
}

// UpdateUser applies an admin's changes (users:manage). Granting ADMIN or
// SUPER_ADMIN takes a SUPER_ADMIN. Deactivating ends every session and
// revokes every API key (reactivation does not bring the keys back).
func (s *Service) UpdateUser(ctx context.Context, a actor.Actor, id string, in AdminUpdateInput) (User, error) {
	if err := requirePerm(a, actor.PermUsersManage); err != nil {
		return User{}, err
	}
	if in.Role == nil && in.Plan == nil && in.IsActive == nil {
		return User{}, apperr.New(apperr.Validation, "nothing to update: send role, plan or isActive")
	}
	if in.Role != nil && !in.Role.Valid() {
		return User{}, apperr.Invalid(apperr.FieldError{Field: "role", Message: "must be one of SUPER_ADMIN, ADMIN, DEVELOPER, SUPPORT, MEMBER"})
	}
	if in.Plan != nil && !in.Plan.Valid() {
		return User{}, apperr.Invalid(apperr.FieldError{Field: "plan", Message: "must be one of FREE, STARTER, PRO, BUSINESS, ENTERPRISE"})
	}
	if in.Role != nil && (*in.Role == actor.Admin || *in.Role == actor.SuperAdmin) && a.Role != actor.SuperAdmin {
		return User{}, apperr.New(apperr.Forbidden, "only a SUPER_ADMIN may grant %s", *in.Role)
	}
	if in.Role != nil || in.Plan != nil {
		if err := a.RequireReauth("change an account's role or plan"); err != nil {
			return User{}, err
		}
	}
	var u User
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		cur, err := userByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.DeletedAt != nil {
			return apperr.New(apperr.Conflict, "the account is deleted; restore it first")
		}
		if err := canManage(a, cur); err != nil {
			return err
		}
		now := db.Now()
		if in.Role != nil && *in.Role != cur.Role {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET role = $1, updated_at = $2 WHERE id = $3`, *in.Role, now, id); err != nil {
				return fmt.Errorf("set role: %w", err)
			}
			if err := audit.Record(ctx, tx, a, audit.Entry{Action: "admin.user_role_changed", Resource: "user", ResourceID: id,
				Metadata: audit.WithDiff(map[string]any{"from": cur.Role, "to": *in.Role},
					map[string]any{"role": cur.Role}, map[string]any{"role": *in.Role})}); err != nil {
				return err
			}
		}
		if in.Plan != nil && *in.Plan != cur.Plan {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET plan = $1, updated_at = $2 WHERE id = $3`, *in.Plan, now, id); err != nil {
				return fmt.Errorf("set plan: %w", err)
			}
			if err := audit.Record(ctx, tx, a, audit.Entry{Action: "admin.user_plan_changed", Resource: "user", ResourceID: id,
				Metadata: audit.WithDiff(map[string]any{"from": cur.Plan, "to": *in.Plan},
					map[string]any{"plan": cur.Plan}, map[string]any{"plan": *in.Plan})}); err != nil {
				return err
			}
			if err := s.adminPlanChangedTx(ctx, tx, id, cur.Plan, *in.Plan); err != nil {
				return err
			}
		}
		if in.IsActive != nil && *in.IsActive != cur.IsActive {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET is_active = $1, updated_at = $2 WHERE id = $3`, *in.IsActive, now, id); err != nil {
				return fmt.Errorf("set active: %w", err)
			}
			action, meta := "admin.user_activated", map[string]any{}
			if !*in.IsActive {
				n, err := revokeSessions(ctx, tx, id, "", "deactivated")
				if err != nil {
					return err
				}
				keys, err := revokeAPIKeys(ctx, tx, id)
				if err != nil {
					return err
				}
				action, meta = "admin.user_deactivated", map[string]any{"sessionsRevoked": n, "apiKeysRevoked": keyIDs(keys)}
			}
			if err := audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "user", ResourceID: id, Metadata: meta}); err != nil {
				return err
			}
			if err := s.personalWorkspaceActive(ctx, tx, a, id, *in.IsActive); err != nil {
				return err
			}
		}
		u, err = userByID(ctx, tx, id)
		return err
	})
	return u, err
}

// DeleteUser soft-deletes an account (users:delete, SUPER_ADMIN).
func (s *Service) DeleteUser(ctx context.Context, a actor.Actor, id string) error {
	if err := requirePerm(a, actor.PermUsersDelete); err != nil {
		return err
	}
	if err := a.RequireReauth("delete an account"); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		cur, err := userByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.DeletedAt != nil {
			return apperr.New(apperr.Conflict, "the account is already deleted")
		}
		if err := canManage(a, cur); err != nil {
			return err
		}
		if err := softDelete(ctx, tx, a, id, "deleted_by_admin", "admin.user_deleted"); err != nil {
			return err
		}
		return s.endPersonalWorkspace(ctx, tx, a, id)
	})
}

// RestoreUser undoes a soft delete (users:delete), unless a live account
// has taken the email since.
func (s *Service) RestoreUser(ctx context.Context, a actor.Actor, id string) (User, error) {
	if err := requirePerm(a, actor.PermUsersDelete); err != nil {
		return User{}, err
	}
	var u User
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		cur, err := userByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.DeletedAt == nil {
			return apperr.New(apperr.Conflict, "the account is not deleted")
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET deleted_at = NULL, updated_at = $1 WHERE id = $2`, db.Now(), id)
		if db.IsUniqueViolation(err) {
			return apperr.New(apperr.Conflict, "another live account now uses %s; the account cannot be restored", cur.Email)
		}
		if err != nil {
			return fmt.Errorf("restore user: %w", err)
		}
		if err := audit.Record(ctx, tx, a, audit.Entry{Action: "admin.user_restored", Resource: "user", ResourceID: id}); err != nil {
			return err
		}
		u, err = userByID(ctx, tx, id)
		return err
	})
	return u, err
}

// RevokeUserSessions signs an account out everywhere and revokes its API
// keys (users:manage): an admin does this when the account may be in the
// wrong hands, and a key is as good as a session to whoever holds it.
func (s *Service) RevokeUserSessions(ctx context.Context, a actor.Actor, id string) (RevokedCredentials, error) {
	if err := requirePerm(a, actor.PermUsersManage); err != nil {
		return RevokedCredentials{}, err
	}
	var out RevokedCredentials
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		cur, err := userByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.ID != a.UserID {
			if err := canManage(a, cur); err != nil {
				return err
			}
		}
		if out.Sessions, err = revokeSessions(ctx, tx, id, "", "revoked_by_admin"); err != nil {
			return err
		}
		if out.APIKeys, err = revokeAPIKeys(ctx, tx, id); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "admin.user_sessions_revoked", Resource: "user", ResourceID: id,
			Metadata: map[string]any{"sessionsRevoked": out.Sessions, "apiKeysRevoked": keyIDs(out.APIKeys)}})
	})
	return out, err
}

// UnlockUser clears a lockout and the failure counters (users:manage).
func (s *Service) UnlockUser(ctx context.Context, a actor.Actor, id string) (User, error) {
	if err := requirePerm(a, actor.PermUsersManage); err != nil {
		return User{}, err
	}
	var u User
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		cur, err := userByID(ctx, tx, id)
		if err != nil {
			return err
		}
		// A lockout protects the account from guessing, so the hierarchy
		// holds as for any other change: otherwise an ADMIN could unlock a
		// SUPER_ADMIN (or itself) after every few wrong passwords.
		if err := canManage(a, cur); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET failed_login_count = 0, lockout_count = 0, locked_until = NULL,
			updated_at = $1 WHERE id = $2`, db.Now(), id); err != nil {
			return fmt.Errorf("unlock: %w", err)
		}
		if err := audit.Record(ctx, tx, a, audit.Entry{Action: "admin.user_unlocked", Resource: "user", ResourceID: id}); err != nil {
			return err
		}
		u, err = userByID(ctx, tx, id)
		return err
	})
	return u, err
}

// Impersonate gives a SUPER_ADMIN a short-lived access token acting as
// another (non-SUPER_ADMIN) user. The token records the impersonator, who is
// written into every audit row it causes; it cannot be refreshed.
func (s *Service) Impersonate(ctx context.Context, a actor.Actor, id string) (Tokens, error) {
	if err := requirePerm(a, actor.PermUsersImpersonate); err != nil {
		return Tokens{}, err
	}
	if a.ImpersonatorID != "" {
		return Tokens{}, apperr.New(apperr.Forbidden, "cannot impersonate from an impersonation session")
	}
	if err := a.RequireReauth("start an impersonation"); err != nil {
		return Tokens{}, err
	}
	var t issued
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		target, err := userByID(ctx, tx, id)
		if err != nil {
			return err
		}
		switch {
		case target.ID == a.UserID:
			return apperr.New(apperr.Validation, "you cannot impersonate yourself")
		case target.Role == actor.SuperAdmin:
			return apperr.New(apperr.Forbidden, "a SUPER_ADMIN cannot be impersonated")
		case !target.live():
			return apperr.New(apperr.Conflict, "the account is deactivated or deleted")
		}
		if t, err = s.openSession(ctx, tx, a, target, a.UserID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "admin.impersonation_started", Resource: "user", ResourceID: target.ID,
			Metadata: map[string]any{"sessionId": t.sessionID, "expiresInSeconds": t.ExpiresIn}})
	})
	return t.Tokens, err
}
