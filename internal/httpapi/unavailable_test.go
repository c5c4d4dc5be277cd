package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// blackhole is a TCP proxy to the database that can stop relaying bytes
// without closing anything: to the application the database looks frozen
// (a network partition, a paused server), the outage that hangs clients
// that wait without deadlines.
type blackhole struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	flow   chan struct{} // closed while bytes flow
	conns  []net.Conn
}

func startBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, target: target, flow: make(chan struct{})}
	close(b.flow)
	go b.serve()
	t.Cleanup(func() {
		b.Restore()
		ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	return b
}

func (b *blackhole) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", b.target)
		if err != nil {
			c.Close()
			continue
		}
		b.mu.Lock()
		b.conns = append(b.conns, c, up)
		b.mu.Unlock()
		go b.pipe(up, c)
		go b.pipe(c, up)
	}
}

func (b *blackhole) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			b.mu.Lock()
			flow := b.flow
			b.mu.Unlock()
			<-flow
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Cut stops relaying; connections stay open and silent.
func (b *blackhole) Cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.flow:
		b.flow = make(chan struct{})
	default:
	}
}

// Restore relays again.
func (b *blackhole) Restore() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.flow:
	default:
		close(b.flow)
	}
}

// patientCall sends a request with a generous client deadline, so a server
// that hangs fails the test instead of stalling it; the contract itself
// (an answer within 5 s) is not timed here.
func patientCall(t *testing.T, h *apptest.Harness, method, path, token string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	res, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	t.Logf("%s %s answered in %v", method, path, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("%s %s: no answer: %v", method, path, err)
	}
	defer res.Body.Close()
	var env struct {
		Error struct{ Code string } `json:"error"`
	}
	raw, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(raw, &env)
	return res.StatusCode, env.Error.Code
}

// TestDatabaseUnreachable_AnswersUnavailable freezes the connection between
// a running node and its PostgreSQL server: signed-in reads and sign-in
// answer 503 UNAVAILABLE (not 500, not a hang), readiness fails, and once
// the database is back the node serves again without a restart.
func TestDatabaseUnreachable_AnswersUnavailable(t *testing.T) {
	t.Parallel()
	base := os.Getenv(dbtest.EnvURL)
	if base == "" {
		t.Skip("needs PostgreSQL: set " + dbtest.EnvURL)
	}
	var pg dbtest.Engine
	for _, e := range dbtest.Engines() {
		if e.Name == "postgres" {
			pg = e
		}
	}
	u, err := url.Parse(pg.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	hole := startBlackhole(t, u.Host)
	u.Host = hole.ln.Addr().String()
	h := apptest.StartWith(t, u.String(), apptest.ProductionDBTimeout)
	user := h.SignUp("outage@example.com", pw)
	if st, _ := patientCall(t, h, "GET", "/api/v1/me", user.AccessToken, nil); st != http.StatusOK {
		t.Fatalf("before the outage: %d", st)
	}

	hole.Cut()
	for _, c := range []struct {
		method, path, token string
		body                any
	}{
		{"GET", "/api/v1/me", user.AccessToken, nil},
		{"POST", "/api/v1/auth/login", "", map[string]string{"email": user.Email, "password": pw}},
		{"GET", "/api/v1/me", user.AccessToken, nil},
	} {
		st, code := patientCall(t, h, c.method, c.path, c.token, c.body)
		if st != http.StatusServiceUnavailable || code != "UNAVAILABLE" {
			t.Errorf("%s %s during the outage: %d %s, want 503 UNAVAILABLE", c.method, c.path, st, code)
		}
	}
	if st, _ := patientCall(t, h, "GET", "/readyz", "", nil); st != http.StatusServiceUnavailable {
		t.Errorf("readyz during the outage: %d", st)
	}

	hole.Restore()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _ := patientCall(t, h, "GET", "/api/v1/me", user.AccessToken, nil)
		if st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the outage: still %d", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(h.Logs(), "UNAVAILABLE") && !strings.Contains(h.Logs(), "request failed") {
		t.Error("the outage left no error in the log")
	}
}

// TestDatabaseLocked_SQLiteAnswersUnavailable holds SQLite's write lock from
// another connection (as a second process would) past the busy timeout:
// sign-in, which writes, answers 503 UNAVAILABLE instead of waiting or
// failing with 500, and works again once the lock is released.
func TestDatabaseLocked_SQLiteAnswersUnavailable(t *testing.T) {
	t.Parallel()
	path := dbtest.SQLite().URL(t)
	h := apptest.StartWith(t, path, apptest.ProductionDBTimeout)
	user := h.SignUp("locked@example.com", pw)
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	login := map[string]string{"email": user.Email, "password": pw}
	if st, code := patientCall(t, h, "POST", "/api/v1/auth/login", "", login); st != http.StatusServiceUnavailable || code != "UNAVAILABLE" {
		t.Errorf("login while the database is locked: %d %s, want 503 UNAVAILABLE", st, code)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if st, code := patientCall(t, h, "POST", "/api/v1/auth/login", "", login); st != http.StatusOK {
		t.Errorf("login after the lock is released: %d %s", st, code)
	}
}
