package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func newTestService(t *testing.T, d *db.DB, hash HashParams) *Service {
	t.Helper()
	return newTestServiceMailing(t, d, hash, newTestMailer(t, d, false))
}

// newTestServiceMailing is newTestService mailing through m.
func newTestServiceMailing(t *testing.T, d *db.DB, hash HashParams, m testMailer) *Service {
	t.Helper()
	s, err := New(d, m.queue, nil, Config{PublicURL: "https://switchboard.test",
		SigningKey: []byte("a signing key of at least thirty-two bytes"), Hash: hash})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A caller that hangs up while its password is being checked must not leave
// a reserved try behind without its record: five such tries would lock the
// account with no end (failed_login_count at the limit, locked_until unset).
func TestLogin_TryIsSettledEvenIfTheCallerGoesAway(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		// A cost high enough that the check takes milliseconds, so that
		// some deadline falls inside it.
		s := newTestService(t, d, HashParams{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1})
		ctx := context.Background()
		u, err := s.Signup(ctx, actor.Anonymous(actor.Request{}), SignupInput{Email: "hangup@example.com", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		counts := func() (tries, recorded int) {
			t.Helper()
			if err := d.Read().QueryRowContext(ctx, `SELECT failed_login_count FROM users WHERE id = $1`, u.ID).Scan(&tries); err != nil {
				t.Fatal(err)
			}
			if err := d.Read().QueryRowContext(ctx, `SELECT count(*) FROM audit_logs WHERE action = 'auth.login'
				AND user_id = $1 AND status = 'failure'`, u.ID).Scan(&recorded); err != nil {
				t.Fatal(err)
			}
			return tries, recorded
		}
		// Deadlines grow until one attempt finishes in time; the ones before
		// end at every stage of the attempt, including during the check.
		for deadline := time.Millisecond; deadline < 10*time.Second; deadline *= 2 {
			tries0, recorded0 := counts()
			cctx, cancel := context.WithTimeout(ctx, deadline)
			_, err := s.Login(cctx, actor.Anonymous(actor.Request{}), "hangup@example.com", "not the right passphrase")
			inTime := cctx.Err() == nil
			cancel()
			tries, recorded := counts()
			if tries > tries0 && recorded == recorded0 {
				t.Fatalf("deadline %s: a try was reserved (%d → %d) but never recorded (error %v)", deadline, tries0, tries, err)
			}
			if errors.Is(err, errBadCredentials) && inTime {
				return
			}
			if tries >= 4 {
				if _, err := s.db.SQL().ExecContext(ctx, `UPDATE users SET failed_login_count = 0 WHERE id = $1`, u.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		t.Fatal("no attempt finished within 10 s")
	})
}
