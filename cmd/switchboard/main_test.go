package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func envFor(t *testing.T, url string) map[string]string {
	return map[string]string{"SWITCHBOARD_DATA_DIR": t.TempDir(), "SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_LOG_LEVEL": "error"}
}

func TestCLI_UsageVersionAndBadConfig(t *testing.T) {
	t.Parallel()
	if r := runCLI(t, nil); r.code != 2 || !strings.Contains(r.stderr, "Usage") {
		t.Errorf("no args: %+v", r)
	}
	if r := runCLI(t, nil, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "switchboard ") {
		t.Errorf("version: %+v", r)
	}
	if r := runCLI(t, nil, "frobnicate"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %+v", r)
	}
	env := map[string]string{"SWITCHBOARD_DATA_DIR": t.TempDir(), "SWITCHBOARD_LOG_LEVEL": "loud"}
	r := runCLI(t, env, "serve", "--listen", "nonsense")
	if r.code != 2 || !strings.Contains(r.stderr, "--listen") || !strings.Contains(r.stderr, "SWITCHBOARD_LOG_LEVEL") {
		t.Errorf("bad config should name both bad settings: %+v", r)
	}
	if r := runCLI(t, env, "admin", "create", "--email", "a@b.co"); r.code != 2 {
		t.Errorf("admin create without password: %+v", r)
	}
}

func TestCLI_MigrateAdminCreateAndAuditVerify(t *testing.T) {
	t.Parallel()
	dbtest.EachEmptyURL(t, func(t *testing.T, url string) {
		env := envFor(t, url)
		if r := runCLI(t, env, "migrate", "status"); r.code != 0 || !strings.Contains(r.stdout, "pending") {
			t.Fatalf("status before: %+v", r)
		}
		if r := runCLI(t, env, "migrate", "up"); r.code != 0 || strings.Contains(r.stdout, "pending") || !strings.Contains(r.stdout, "00001") {
			t.Fatalf("migrate up: %+v", r)
		}
		r := runCLI(t, env, "admin", "create", "--email", "Ops@Example.com", "--password", "correct horse battery")
		if r.code != 0 || !strings.Contains(r.stdout, "created SUPER_ADMIN ops@example.com") {
			t.Fatalf("admin create: %+v", r)
		}
		if r := runCLI(t, env, "admin", "create", "--email", "ops@example.com", "--password", "correct horse battery"); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
			t.Fatalf("duplicate admin: %+v", r)
		}
		if r := runCLI(t, env, "admin", "create", "--email", "x@example.com", "--password", "short"); r.code != 1 || !strings.Contains(r.stderr, "at least 8") {
			t.Fatalf("short password: %+v", r)
		}
		r = runCLI(t, env, "audit", "verify")
		if r.code != 0 || !strings.Contains(r.stdout, "intact") {
			t.Fatalf("verify intact: %+v", r)
		}

		// Edit one row by hand: verify fails and names it.
		d, err := db.Open(context.Background(), url, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		var id string
		if err := d.Read().QueryRowContext(context.Background(), `SELECT id FROM audit_logs WHERE seq = 1`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := d.SQL().ExecContext(context.Background(), `UPDATE audit_logs SET ip_address = '203.0.113.9' WHERE seq = 1`); err != nil {
			t.Fatal(err)
		}
		r = runCLI(t, env, "audit", "verify")
		if r.code != 1 || !strings.Contains(r.stderr, "TAMPERED") || !strings.Contains(r.stderr, id) {
			t.Fatalf("verify after tampering: %+v", r)
		}
	})
}

// syncBuf is a bytes.Buffer safe for the server goroutine and the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestCLI_ServeBootstrapsAdminServesAndStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"SWITCHBOARD_DATA_DIR": dir, "SWITCHBOARD_LISTEN": "127.0.0.1:0", "SWITCHBOARD_LOG_LEVEL": "info"}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, &out, &errb) }()

	addrRe := regexp.MustCompile(`"listen":"([^"]+)"`)
	var addr string
	deadline := time.Now().Add(60 * time.Second)
	for addr == "" {
		if m := addrRe.FindStringSubmatch(errb.String()); m != nil {
			addr = m[1]
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server did not start: %s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	pwRe := regexp.MustCompile(`password: (\S+)`)
	m := pwRe.FindStringSubmatch(out.String())
	if m == nil {
		cancel()
		t.Fatalf("no generated admin password printed: %s", out.String())
	}
	body := `{"email":"admin@switchboard.local","password":"` + m[1] + `"}`
	res, err := http.Post("http://"+addr+"/api/v1/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var env2 struct{ Success bool }
	_ = json.NewDecoder(res.Body).Decode(&env2)
	res.Body.Close()
	if !env2.Success {
		t.Errorf("cannot sign in with the printed admin password")
	}
	if strings.Contains(errb.String(), m[1]) {
		t.Error("the generated password reached the logs")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, errb.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop on cancel")
	}
	// Keys and the database live in the data dir.
	if _, err1 := os.Stat(filepath.Join(dir, "secret.keys")); err1 != nil {
		if _, err2 := os.Stat(filepath.Join(dir, "secret.key")); err2 != nil {
			t.Errorf("no secret sealing key in the data dir: %v", err1)
		}
	}
	for _, f := range []string{"token.key", "switchboard.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
