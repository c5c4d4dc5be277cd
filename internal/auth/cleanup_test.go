package auth

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func TestCleanup_RemovesOnlyLongDeadCredentials(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newTestService(t, d, HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1})
		if _, err := s.Signup(ctx, actor.Anonymous(actor.Request{}), SignupInput{Email: "c@example.com", Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
		old, err := s.Login(ctx, actor.Anonymous(actor.Request{}), "c@example.com", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		live, err := s.Login(ctx, actor.Anonymous(actor.Request{}), "c@example.com", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		oldSession := jwtSession(t, s, old.Tokens.AccessToken)
		longAgo := db.Now().Add(-60 * 24 * time.Hour)
		if _, err := d.SQL().ExecContext(ctx, `UPDATE sessions SET expires_at = $1 WHERE id = $2`, longAgo, oldSession); err != nil {
			t.Fatal(err)
		}
		if _, err := d.SQL().ExecContext(ctx, `UPDATE email_verification_tokens SET expires_at = $1`, longAgo); err != nil {
			t.Fatal(err)
		}
		n, err := s.Cleanup(ctx, time.Now().Add(-30*24*time.Hour))
		if err != nil || n < 3 { // session, its refresh token, the verification token
			t.Fatalf("cleanup removed %d rows: %v", n, err)
		}
		var sessions int
		if err := d.Read().QueryRowContext(ctx, `SELECT count(*) FROM sessions`).Scan(&sessions); err != nil || sessions != 1 {
			t.Fatalf("%d sessions left, want the live one (%v)", sessions, err)
		}
		if _, err := s.Authenticate(ctx, live.Tokens.AccessToken, actor.Request{}); err != nil {
			t.Fatalf("live session broken by cleanup: %v", err)
		}
	})
}

func jwtSession(t *testing.T, s *Service, tok string) string {
	t.Helper()
	c, err := s.tokens.parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	return c.SessionID
}
