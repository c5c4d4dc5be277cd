package httpapi_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// The helpers of the account and auth end-to-end tests hang off authFlow so
// that they do not crowd the package namespace other tests share.

// authPassword is a valid password for test accounts.
const authPassword = "correct horse battery"

// authFlow is one test's view of a running node.
type authFlow struct {
	t *testing.T
	*apptest.Harness
}

// runAuth runs fn in parallel on every engine, each with its own node. Most
// account flows need no background jobs, so the nodes run no job workers
// (idle workers polling the database would only slow the suite down);
// a test that reads mail passes withMail, since mail leaves through jobs.
func runAuth(t *testing.T, fn func(f authFlow), opts ...apptest.Option) {
	t.Helper()
	t.Parallel()
	opts = append([]apptest.Option{func(c *config.Config) { c.Workers = false }}, opts...)
	dbtest.EachURL(t, func(t *testing.T, url string) {
		t.Parallel()
		fn(authFlow{t: t, Harness: apptest.Start(t, url, opts...)})
	})
}

// withMail runs the node's job workers, which deliver its mail.
func withMail(c *config.Config) { c.Workers = true }

// wantErr fails unless r is the error envelope with this status and code,
// and, when msg is not empty, this exact message.
func (f authFlow) wantErr(r *apptest.Response, status int, code, msg string) {
	f.t.Helper()
	if r.Status != status || r.Body.Success || r.Code() != code {
		f.t.Fatalf("want %d %s, got %d: %s", status, code, r.Status, r.Raw)
	}
	if msg != "" && r.Body.Error.Message != msg {
		f.t.Fatalf("want message %q, got %q", msg, r.Body.Error.Message)
	}
}

// post sends a JSON body to an API path without checking the status.
func (f authFlow) post(path, token string, body any) *apptest.Response {
	f.t.Helper()
	return f.Do(apptest.Request{Method: "POST", Path: path, Token: token, Body: body})
}

// login tries a password and returns the raw answer.
func (f authFlow) login(email, password string) *apptest.Response {
	f.t.Helper()
	return f.post("/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
}

// status is the HTTP status of GET path with token.
func (f authFlow) status(path, token string) int {
	f.t.Helper()
	return f.Do(apptest.Request{Method: "GET", Path: path, Token: token}).Status
}

// count runs a SELECT count(*) … query.
func (f authFlow) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.App.DB.Read().QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// exec changes the database behind the API's back.
func (f authFlow) exec(query string, args ...any) {
	f.t.Helper()
	err := f.App.DB.Tx(context.Background(), func(tx *db.Tx) error {
		_, err := tx.ExecContext(context.Background(), query, args...)
		return err
	})
	if err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
}

// lockedUntil reads an account's lockout end; zero if it is not locked.
func (f authFlow) lockedUntil(userID string) time.Time {
	f.t.Helper()
	var until sql.NullTime
	if err := f.App.DB.Read().QueryRowContext(context.Background(),
		`SELECT locked_until FROM users WHERE id = $1`, userID).Scan(&until); err != nil {
		f.t.Fatalf("read locked_until: %v", err)
	}
	return until.Time
}

// auditMetadata returns the metadata of every audit row with this action and
// status, decoded.
func (f authFlow) auditMetadata(action, status string) []map[string]any {
	f.t.Helper()
	rows, err := f.App.DB.Read().QueryContext(context.Background(),
		`SELECT metadata FROM audit_logs WHERE action = $1 AND status = $2 ORDER BY seq`, action, status)
	if err != nil {
		f.t.Fatalf("read audit: %v", err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			f.t.Fatalf("scan audit: %v", err)
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			f.t.Fatalf("audit metadata %q: %v", raw, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatalf("read audit: %v", err)
	}
	return out
}

// signingKey is the node's access-token key, for forging tokens that differ
// from real ones in one claim only.
func (f authFlow) signingKey() []byte {
	f.t.Helper()
	k, err := config.LoadOrCreateKey(f.App.Config.TokenKey, f.App.Config.DataDir, "token.key", 32)
	if err != nil {
		f.t.Fatalf("token key: %v", err)
	}
	return k
}

// mailWith waits up to 10 s for a mail to `to` whose subject contains
// subject (mail leaves through a job; the test needs withMail).
func (f authFlow) mailWith(to, subject string) apptest.Mail {
	f.t.Helper()
	if !f.App.Config.Workers {
		f.t.Fatal("mail leaves through jobs and this node runs no job workers: pass withMail to runAuth")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, m := range f.Mails(to) {
			if strings.Contains(m.Subject, subject) {
				return m
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("no mail %q to %s; have %+v", subject, to, f.Mails(to))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawPost sends a request the harness cannot: a forged Host header.
func (f authFlow) rawPost(path, host, body string, headers map[string]string) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest("POST", f.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("POST %s: %v", path, err)
	}
	res.Body.Close()
	return res
}

// tokenClaims decodes the payload of a JWT without checking it.
func tokenClaims(t *testing.T, token string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWT: %q", token)
	}
	decode := func(s string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("JWT segment %q: %v", s, err)
		}
		m := map[string]any{}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("JWT segment %s: %v", raw, err)
		}
		return m
	}
	return decode(parts[0]), decode(parts[1])
}
