package auth

import (
	"context"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/secret"
)

// TOTP secrets take part in key rotation: re-sealed under the new primary
// key, they still verify codes once the old key is gone.
func TestTOTP_SecretsSurviveKeyRotation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		oldKey, err := secret.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		newKey, err := secret.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		s := newTestService(t, d, HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1})
		if s.cfg.Keys, err = secret.NewKeyring(oldKey); err != nil {
			t.Fatal(err)
		}
		u, err := s.Signup(ctx, actor.Anonymous(actor.Request{}), SignupInput{Email: "rot@example.com", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		a := actor.Actor{UserID: u.ID, Email: u.Email, SessionID: "ses_x", Reauthenticated: true}
		en, err := s.BeginTOTP(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := totp.GenerateCode(en.Secret, time.Now())
		if _, err := s.ConfirmTOTP(ctx, a, code); err != nil {
			t.Fatal(err)
		}

		rotated, err := secret.NewKeyring(newKey, oldKey)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := TOTPSecretStore(d).ResealBatch(ctx, rotated, 10); err != nil || n != 1 {
			t.Fatalf("resealed %d: %v", n, err)
		}
		if s.cfg.Keys, err = secret.NewKeyring(newKey); err != nil {
			t.Fatal(err)
		}
		f, found, err := s.loadTOTP(ctx, d.Read(), u.ID)
		if err != nil || !found || f.secret != en.Secret || !f.confirmed {
			t.Fatalf("after rotation: found %v, confirmed %v, same secret %v: %v", found, f.confirmed, f.secret == en.Secret, err)
		}
	})
}
