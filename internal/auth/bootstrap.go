package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
)

// CreateAdmin creates a SUPER_ADMIN account (the CLI's `admin create`).
func (s *Service) CreateAdmin(ctx context.Context, a actor.Actor, email, name, password string) (User, error) {
	e, err := checkEmail("email", email)
	if err != nil {
		return User{}, err
	}
	if err := checkPassword("password", password); err != nil {
		return User{}, err
	}
	// The operator chose this address; it needs no mailed proof.
	return s.createUser(ctx, a, e, name, password, actor.SuperAdmin, true, "admin.created")
}

// EnsureAdmin creates the first SUPER_ADMIN when there is none. With an
// empty password it generates one and returns it, to be shown once.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (created bool, generated string, err error) {
	var n int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = $1 AND deleted_at IS NULL`,
		actor.SuperAdmin).Scan(&n); err != nil {
		return false, "", fmt.Errorf("count admins: %w", err)
	}
	if n > 0 {
		return false, "", nil
	}
	if email == "" {
		email = "admin@switchboard.local"
	}
	if password == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return false, "", err
		}
		password = base64.RawURLEncoding.EncodeToString(b)
		generated = password
	}
	sys := actor.Actor{System: true, UserAgent: "switchboard serve"}
	if _, err := s.CreateAdmin(ctx, sys, email, "Administrator", password); err != nil {
		return false, "", fmt.Errorf("create first admin %s: %w", email, err)
	}
	return true, generated, nil
}
