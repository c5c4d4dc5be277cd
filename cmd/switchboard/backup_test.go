package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

// A backup taken while runs are being created holds every run committed
// before it started and an audit log that verifies, signatures included,
// once restored into a fresh data dir; restoring over a served database is
// refused.
func TestCLI_BackupUnderLoadRestoresCommittedRunsAndAVerifiedAuditLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	live := filepath.Join(t.TempDir(), "live.db")
	h := apptest.Start(t, live)
	liveDir := filepath.Dir(h.MailDir)
	s := h.SignUp("backup@example.com", "correct horse battery")
	if _, err := h.App.DB.SQL().ExecContext(ctx, `UPDATE users SET plan = 'ENTERPRISE'`); err != nil {
		t.Fatal(err)
	}
	var wf struct{ HookURL string }
	h.Call(http.StatusCreated, "POST", "/api/v1/workflows", s.AccessToken, map[string]any{"name": "orders", "definition": map[string]any{
		"trigger": map[string]any{"type": "webhook", "mode": "sync"}, "startStepId": "echo",
		"steps": []any{map[string]any{"id": "echo", "type": "transform", "config": map[string]any{"expression": "{order: trigger.body.id}"}}},
	}}).Data(t, &wf)
	hook := h.URL + wf.HookURL[strings.Index(wf.HookURL, "/hooks/"):]
	keys, err := audit.KeySource{Dir: liveDir}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Seal(ctx, h.App.DB, keys); err != nil {
		t.Fatal(err)
	}

	// Runs keep being created from before the backup until after it.
	stop := make(chan struct{})
	warm := make(chan struct{})
	var runs atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(hook, "application/json", bytes.NewReader([]byte(`{"id":"ord_1"}`)))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
				case http.StatusServiceUnavailable:
					// An overloaded node (a slow -race build) turns a
					// request away uncommitted; the load goes on.
					continue
				default:
					t.Errorf("webhook: %d", resp.StatusCode)
					return
				}
				if runs.Add(1) == 10 {
					close(warm)
				}
			}
		}()
	}
	loadEnded := make(chan struct{})
	go func() { wg.Wait(); close(loadEnded) }()
	select {
	case <-warm:
	case <-loadEnded:
		t.Fatal("the load stopped before the backup")
	}
	committed := runIDs(t, h.App.DB)
	bak := filepath.Join(t.TempDir(), "switchboard.backup")
	r := runCLI(t, map[string]string{"SWITCHBOARD_DATA_DIR": liveDir, "SWITCHBOARD_DATABASE_URL": live}, "backup", "--to", bak)
	close(stop)
	wg.Wait()
	if r.code != 0 || !strings.Contains(r.stdout, "backed up") {
		t.Fatalf("backup: %+v", r)
	}
	if st, err := os.Stat(bak); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode %v, want 0600", st.Mode().Perm())
	}
	if r := runCLI(t, map[string]string{"SWITCHBOARD_DATA_DIR": liveDir, "SWITCHBOARD_DATABASE_URL": live}, "backup", "--to", bak); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("backup over an existing file: %+v", r)
	}
	if r := runCLI(t, map[string]string{"SWITCHBOARD_DATA_DIR": liveDir, "SWITCHBOARD_DATABASE_URL": live}, "restore", "--from", bak); r.code != 1 || !strings.Contains(r.stderr, "server is running") {
		t.Fatalf("restore over the served database: %+v", r)
	}

	fresh := t.TempDir()
	key, err := os.ReadFile(filepath.Join(liveDir, audit.SigningKeysFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fresh, audit.SigningKeysFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SWITCHBOARD_DATA_DIR": fresh, "SWITCHBOARD_LOG_LEVEL": "error"}
	if r := runCLI(t, env, "restore", "--from", bak); r.code != 0 || !strings.Contains(r.stdout, "restored") {
		t.Fatalf("restore: %+v", r)
	}
	if r := runCLI(t, env, "audit", "verify"); r.code != 0 || !strings.Contains(r.stdout, "intact") || !strings.Contains(r.stdout, "signatures checked") {
		t.Fatalf("audit verify of the restored database: %+v", r)
	}
	d, err := db.Open(ctx, filepath.Join(fresh, "switchboard.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	restored := map[string]bool{}
	for _, id := range runIDs(t, d) {
		restored[id] = true
	}
	for _, id := range committed {
		if !restored[id] {
			t.Fatalf("run %s, committed before the backup started, is not in it (%d of %d runs there)", id, len(restored), len(committed))
		}
	}
	// Another process that merely has the database open (an API-only
	// node holds no worker lock) blocks a restore too.
	holder := exec.Command(os.Args[0], "-test.run=^TestHelperHoldDatabaseOpen$")
	holder.Env = append(os.Environ(), "SWITCHBOARD_TEST_HOLD_DB="+filepath.Join(fresh, "switchboard.db"))
	stdin, _ := holder.StdinPipe()
	stdout, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "open\n" {
		t.Fatalf("helper process: %q %v", line, err)
	}
	r = runCLI(t, env, "restore", "--from", bak)
	stdin.Close()
	_ = holder.Wait()
	if r.code != 1 || !strings.Contains(r.stderr, "another process has this database open") {
		t.Fatalf("restore over a database open elsewhere: %+v", r)
	}
	if len(committed) < 10 {
		t.Fatalf("only %d runs before the backup", len(committed))
	}
}

// TestHelperHoldDatabaseOpen is run as a separate process by the backup
// test: it opens the database, says so, and keeps it open until its input
// closes.
func TestHelperHoldDatabaseOpen(t *testing.T) {
	path := os.Getenv("SWITCHBOARD_TEST_HOLD_DB")
	if path == "" {
		t.Skip("run by TestCLI_BackupUnderLoadRestoresCommittedRunsAndAVerifiedAuditLog")
	}
	d, err := db.Open(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_logs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("open\n")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func runIDs(t *testing.T, d *db.DB) []string {
	t.Helper()
	rows, err := d.Read().QueryContext(context.Background(), `SELECT id FROM workflow_runs`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

func TestCLI_BackupAndRestoreOnPostgreSQLPointToPgDump(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SWITCHBOARD_DATA_DIR": t.TempDir(), "SWITCHBOARD_DATABASE_URL": "postgres://sb@db.invalid/sb"}
	for _, args := range [][]string{{"backup", "--to", "x"}, {"restore", "--from", "x"}} {
		if r := runCLI(t, env, args...); r.code != 2 || !strings.Contains(r.stderr, "pg_dump") || !strings.Contains(r.stderr, "pg_restore") {
			t.Errorf("%s on PostgreSQL: %+v", args[0], r)
		}
	}
}
