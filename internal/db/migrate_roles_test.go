package db_test

import (
	"context"
	"testing"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// Migration 00016 renames the platform roles to the seed's: every stored
// role, the column default and the flag targeting lists, keeping the rows
// that reference users intact.
func TestMigration16_RenamesRolesInRowsDefaultsAndFlags(t *testing.T) {
	t.Parallel()
	dbtest.EachEmptyURL(t, func(t *testing.T, url string) {
		ctx := context.Background()
		d, err := db.Open(ctx, url, db.Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if err := d.MigrateTo(ctx, 15); err != nil {
			t.Fatalf("migrate to 15: %v", err)
		}
		now := db.Now()
		err = d.Tx(ctx, func(tx *db.Tx) error {
			for _, u := range [][2]string{{"usr_mod", "MODERATOR"}, {"usr_user", "USER"}, {"usr_dev", "DEVELOPER"}, {"usr_adm", "ADMIN"}} {
				if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, role, last_password_change, created_at, updated_at)
					VALUES ($1, $2, 'x', $3, $4, $4, $4)`, u[0], u[0]+"@example.com", u[1], now); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at)
				VALUES ('ses_1', 'usr_user', $1, $1, $1)`, now); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO feature_flags (id, key, roles, created_at, updated_at)
				VALUES ('flg_1', 'beta', '["ADMIN","MODERATOR","USER"]', $1, $1)`, now)
			return err
		})
		if err != nil {
			t.Fatalf("seed rows under the old schema: %v", err)
		}
		var version int64
		if err := d.Read().QueryRowContext(ctx, `SELECT version FROM flag_state`).Scan(&version); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Migrate(ctx); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		want := map[string]string{"usr_mod": "SUPPORT", "usr_user": "MEMBER", "usr_dev": "DEVELOPER", "usr_adm": "ADMIN"}
		for id, role := range want {
			var got string
			if err := d.Read().QueryRowContext(ctx, `SELECT role FROM users WHERE id = $1`, id).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != role {
				t.Errorf("%s: role %s, want %s", id, got, role)
			}
		}
		var roles string
		var after int64
		if err := d.Read().QueryRowContext(ctx, `SELECT roles, (SELECT version FROM flag_state) FROM feature_flags WHERE key = 'beta'`).Scan(&roles, &after); err != nil {
			t.Fatal(err)
		}
		if roles != `["ADMIN","SUPPORT","MEMBER"]` || after <= version {
			t.Errorf("flag roles %s, flag version %d → %d", roles, version, after)
		}
		err = d.Tx(ctx, func(tx *db.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE user_id = 'usr_user'`).Scan(&n); err != nil || n != 1 {
				t.Errorf("sessions of a migrated user: %d, %v", n, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, last_password_change, created_at, updated_at)
				VALUES ('usr_new', 'new@example.com', 'x', $1, $1, $1)`, now); err != nil {
				return err
			}
			var role string
			if err := tx.QueryRowContext(ctx, `SELECT role FROM users WHERE id = 'usr_new'`).Scan(&role); err != nil || role != "MEMBER" {
				t.Errorf("default role %q, %v", role, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = d.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE users SET role = 'MODERATOR' WHERE id = 'usr_new'`)
			return err
		})
		if err == nil {
			t.Error("the old role MODERATOR is still accepted")
		}
		// The rebuilt table still anchors its children: a session for an
		// account that does not exist is refused.
		err = d.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at)
				VALUES ('ses_2', 'usr_nobody', $1, $1, $1)`, now)
			return err
		})
		if err == nil {
			t.Error("a session for a missing user was accepted after the migration")
		}
	})
}
