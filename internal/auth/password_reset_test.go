package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/mail"
)

// The mails of the account flows are jobs, inserted with the change that
// causes them; their single-use tokens must never be readable in the job
// table, whatever state the job is in.
func TestForgotPassword_ResetTokenNeverSitsInClearInTheJobTable(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		m := newTestMailer(t, d, true)
		s := newTestServiceMailing(t, d, HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, m)
		anon := actor.Anonymous(actor.Request{})
		if _, err := s.Signup(ctx, anon, SignupInput{Email: "vault@example.com", Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
		verification := tokenIn(t, m.wait(t, "Confirm your email"))
		if err := s.ForgotPassword(ctx, anon, "vault@example.com"); err != nil {
			t.Fatal(err)
		}
		reset := tokenIn(t, m.wait(t, "Reset your Switchboard password"))

		rows := jobTableText(t, d)
		if n := strings.Count(rows, "sb1:"); n < 2 {
			t.Fatalf("%d sealed mail jobs in river_job, want the verification and the reset mail:\n%s", n, rows)
		}
		for what, secret := range map[string]string{"reset token": reset, "verification token": verification,
			"reset link": "/reset-password?token=", "recipient": "vault@example.com"} {
			if strings.Contains(rows, secret) {
				t.Errorf("%s found in clear in river_job", what)
			}
		}

		// The mailed token is the real one.
		if err := s.ResetPassword(ctx, anon, reset, "a brand new passphrase"); err != nil {
			t.Fatalf("reset with the mailed token: %v", err)
		}
		m.wait(t, "password was changed")
	})
}

// jobTableText returns every mail job row of river_job as text: args,
// metadata and recorded errors, both as stored and as JSON text.
func jobTableText(t *testing.T, d *db.DB) string {
	t.Helper()
	q := `SELECT CAST(args AS BLOB), json(args), json(metadata), coalesce(json(errors), '') FROM river_job WHERE kind = $1`
	if d.Dialect == db.Postgres {
		q = `SELECT convert_to(args::text, 'UTF8'), args::text, metadata::text, coalesce(errors::text, '') FROM river_job WHERE kind = $1`
	}
	rows, err := d.Read().QueryContext(context.Background(), q, mail.SendKind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var raw []byte
		var args, meta, errs string
		if err := rows.Scan(&raw, &args, &meta, &errs); err != nil {
			t.Fatal(err)
		}
		b.Write(raw)
		b.WriteString("\n" + args + "\n" + meta + "\n" + errs + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
