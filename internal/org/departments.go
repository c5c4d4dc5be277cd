package org

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// Department groups members inside an organization.
type Department struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Members   int       `json:"members"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func checkDeptName(raw string) (string, error) {
	n := strings.TrimSpace(raw)
	if n == "" {
		return "", apperr.Invalid(apperr.FieldError{Field: "name", Message: "is required"})
	}
	if utf8.RuneCountInString(n) > 100 {
		return "", apperr.Invalid(apperr.FieldError{Field: "name", Message: "must be at most 100 characters"})
	}
	return n, nil
}

// ListDepartments lists an organization's departments (any member).
func (s *Service) ListDepartments(ctx context.Context, a actor.Actor, orgID string) ([]Department, error) {
	if _, _, err := require(ctx, s.db.Read(), a, orgID, actor.PermOrgRead); err != nil {
		return nil, err
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT d.id, d.name, d.created_at, d.updated_at,
		(SELECT count(*) FROM memberships m WHERE m.department_id = d.id)
		FROM departments d WHERE d.organization_id = $1 ORDER BY lower(d.name) LIMIT 1000`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	defer rows.Close()
	out := []Department{}
	for rows.Next() {
		var d Department
		if err := rows.Scan(&d.ID, &d.Name, &d.CreatedAt, &d.UpdatedAt, &d.Members); err != nil {
			return nil, fmt.Errorf("scan department: %w", err)
		}
		d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

func departmentIn(ctx context.Context, q db.Querier, orgID, deptID string) (Department, error) {
	var d Department
	err := q.QueryRowContext(ctx, `SELECT id, name, created_at, updated_at FROM departments WHERE id = $1 AND organization_id = $2`,
		deptID, orgID).Scan(&d.ID, &d.Name, &d.CreatedAt, &d.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Department{}, apperr.New(apperr.NotFound, "department not found")
	}
	if err != nil {
		return Department{}, fmt.Errorf("load department: %w", err)
	}
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return d, nil
}

// CreateDepartment adds a department (org:departments:manage).
func (s *Service) CreateDepartment(ctx context.Context, a actor.Actor, orgID, name string) (Department, error) {
	n, err := checkDeptName(name)
	if err != nil {
		return Department{}, err
	}
	now := db.Now()
	d := Department{ID: ids.New(ids.Department), Name: n, CreatedAt: now, UpdatedAt: now}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		in, _, err := require(ctx, tx, a, orgID, actor.PermOrgDeptManage)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO departments (id, organization_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`,
			d.ID, orgID, n, now)
		if db.IsUniqueViolation(err) {
			return apperr.New(apperr.Conflict, "a department named %q exists already", n)
		}
		if err != nil {
			return fmt.Errorf("insert department: %w", err)
		}
		return audit.Record(ctx, tx, in, audit.Entry{Action: "org.department_created", Resource: "department", ResourceID: d.ID,
			Metadata: map[string]any{"name": n}})
	})
	return d, err
}

// RenameDepartment renames a department (org:departments:manage).
func (s *Service) RenameDepartment(ctx context.Context, a actor.Actor, orgID, deptID, name string) (Department, error) {
	n, err := checkDeptName(name)
	if err != nil {
		return Department{}, err
	}
	var d Department
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		in, _, err := require(ctx, tx, a, orgID, actor.PermOrgDeptManage)
		if err != nil {
			return err
		}
		if d, err = departmentIn(ctx, tx, orgID, deptID); err != nil {
			return err
		}
		old := d.Name
		now := db.Now()
		_, err = tx.ExecContext(ctx, `UPDATE departments SET name = $1, updated_at = $2 WHERE id = $3`, n, now, deptID)
		if db.IsUniqueViolation(err) {
			return apperr.New(apperr.Conflict, "a department named %q exists already", n)
		}
		if err != nil {
			return fmt.Errorf("rename department: %w", err)
		}
		d.Name, d.UpdatedAt = n, now
		return audit.Record(ctx, tx, in, audit.Entry{Action: "org.department_renamed", Resource: "department", ResourceID: deptID,
			Metadata: audit.WithDiff(map[string]any{"from": old, "to": n},
				map[string]any{"name": old}, map[string]any{"name": n})})
	})
	return d, err
}

// DeleteDepartment removes a department; its members stay in the
// organization without a department (org:departments:manage).
func (s *Service) DeleteDepartment(ctx context.Context, a actor.Actor, orgID, deptID string) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		in, _, err := require(ctx, tx, a, orgID, actor.PermOrgDeptManage)
		if err != nil {
			return err
		}
		d, err := departmentIn(ctx, tx, orgID, deptID)
		if err != nil {
			return err
		}
		now := db.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE memberships SET department_id = NULL, updated_at = $1 WHERE department_id = $2`, now, deptID); err != nil {
			return fmt.Errorf("detach members: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET department_id = NULL WHERE department_id = $1`, deptID); err != nil {
			return fmt.Errorf("detach invitations: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET department_id = NULL WHERE department_id = $1`, deptID); err != nil {
			return fmt.Errorf("detach primary department: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM departments WHERE id = $1`, deptID); err != nil {
			return fmt.Errorf("delete department: %w", err)
		}
		return audit.Record(ctx, tx, in, audit.Entry{Action: "org.department_deleted", Resource: "department", ResourceID: deptID,
			Metadata: map[string]any{"name": d.Name}})
	})
}

// AssignDepartment puts a member into a department, or takes them out of
// any with an empty deptID (org:departments:members). A DEPT_MANAGER acts
// only on members of their own department and only into or out of it.
func (s *Service) AssignDepartment(ctx context.Context, a actor.Actor, orgID, userID, deptID string) (Member, error) {
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		in, _, err := require(ctx, tx, a, orgID, actor.PermOrgDeptMembers)
		if err != nil {
			return err
		}
		_, curDept, err := membershipOf(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		if deptID != "" {
			if _, err := departmentIn(ctx, tx, orgID, deptID); err != nil {
				return err
			}
		}
		if in.OrgRole == actor.DeptManager {
			own := in.DepartmentID
			switch {
			case own == "":
				return apperr.New(apperr.Forbidden, "you manage no department")
			case curDept != "" && curDept != own:
				return apperr.New(apperr.Forbidden, "the member belongs to a department you do not manage")
			case deptID != "" && deptID != own:
				return apperr.New(apperr.Forbidden, "you can only assign members to the department you manage")
			}
		}
		if curDept == deptID {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE memberships SET department_id = $1, updated_at = $2 WHERE organization_id = $3 AND user_id = $4`,
			nullable(deptID), db.Now(), orgID, userID); err != nil {
			return fmt.Errorf("assign department: %w", err)
		}
		if err := syncPrimary(ctx, tx, userID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, in, audit.Entry{Action: "org.member_department_changed", Resource: "membership", ResourceID: userID,
			Metadata: audit.WithDiff(map[string]any{"from": curDept, "to": deptID},
				map[string]any{"departmentId": nullable(curDept)}, map[string]any{"departmentId": nullable(deptID)})})
	})
	if err != nil {
		return Member{}, err
	}
	return s.memberView(ctx, orgID, userID)
}
