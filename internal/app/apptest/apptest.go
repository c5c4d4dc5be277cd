// Package apptest starts a whole Switchboard node on a real database behind
// a real HTTP listener, for end-to-end tests of the API.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app"
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db"
)

// AdminEmail and AdminPassword sign in as the node's first SUPER_ADMIN.
const (
	AdminEmail    = "root@switchboard.test"
	AdminPassword = "root-password-for-tests"
)

// Harness is a running node.
type Harness struct {
	t       testing.TB
	URL     string
	App     *app.App
	MailDir string
	logs    *syncBuffer
}

// Option adjusts the node's configuration before it starts.
type Option func(*config.Config)

// ProductionRateLimits gives the node the production API rate limits of
// the plans (--api-rate-limit-scale 1) instead of the harness's generous
// ones.
func ProductionRateLimits(c *config.Config) { c.APIRateLimitScale = 1 }

// FastHashing makes password hashing cheap so tests run quickly; the
// production cost is tested in the auth package.
var FastHashing = app.Options{HashParams: auth.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}}

// testDBTimeout bounds the nodes' waits on their database. Tests start
// many nodes at once on two cores, under the race detector tens of times
// slower than in production; a wait the production bound (3 s) would cut
// there says nothing about the code under test. Tests of that bound pass
// ProductionDBTimeout.
const testDBTimeout = 30 * time.Second

// ProductionDBTimeout gives a node the production bound on database waits.
var ProductionDBTimeout = app.Options{HashParams: FastHashing.HashParams, DBTimeout: db.DefaultTimeout}

// Start runs a node on the database at dbURL and stops it at cleanup.
func Start(t testing.TB, dbURL string, opts ...Option) *Harness {
	t.Helper()
	return StartWith(t, dbURL, FastHashing, opts...)
}

// StartWith is Start with explicit wiring options (app.Options{} for the
// production password hashing cost).
func StartWith(t testing.TB, dbURL string, appOpt app.Options, opts ...Option) *Harness {
	t.Helper()
	if appOpt.DBTimeout == 0 {
		appOpt.DBTimeout = testDBTimeout
	}
	dir := t.TempDir()
	c := config.Config{
		Listen: "127.0.0.1:0", DataDir: dir, DatabaseURL: dbURL, PublicURL: "https://switchboard.test",
		MailFrom: "Switchboard <no-reply@switchboard.test>", LogLevel: "debug", LogFormat: "json", Workers: true,
		SQLiteSynchronous: "NORMAL", MaxBodyBytes: 1 << 20, AuthRateLimit: 100000, ShutdownTimeout: time.Second,
		// Many nodes run at once in a test run, all on one PostgreSQL.
		DatabaseMaxConns: 4,
		// Tests make hundreds of requests a minute with one credential,
		// far beyond the FREE plan's API limits; ProductionRateLimits
		// restores them.
		APIRateLimitScale: 1e6,
	}
	for _, o := range opts {
		o(&c)
	}
	logs := &syncBuffer{}
	log := app.NewLogger(logs, c)
	a, err := app.New(context.Background(), c, log, appOpt)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	if _, _, err := a.Auth.EnsureAdmin(context.Background(), AdminEmail, AdminPassword); err != nil {
		t.Fatalf("bootstrap admin: %v", err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("start background work: %v", err)
	}
	srv := httptest.NewServer(a.HTTP)
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	return &Harness{t: t, URL: srv.URL, App: a, MailDir: filepath.Join(dir, "mail"), logs: logs}
}

// Logs returns everything the node logged so far.
func (h *Harness) Logs() string { return h.logs.String() }

// Response is a decoded API answer.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   *struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
}

// Code is the error code, or "" on success.
func (r *Response) Code() string {
	if r.Body.Error == nil {
		return ""
	}
	return r.Body.Error.Code
}

// Data decodes the data field into v.
func (r *Response) Data(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", r.Raw, err)
	}
}

// Items decodes the items of a listing ({items, nextCursor}) into v and
// returns the next page's cursor ("" on the last page).
func (r *Response) Items(t testing.TB, v any) string {
	t.Helper()
	var page struct {
		Items      json.RawMessage `json:"items"`
		NextCursor *string         `json:"nextCursor"`
	}
	r.Data(t, &page)
	if len(page.Items) == 0 || page.Items[0] != '[' {
		t.Fatalf("listing without an items array: %s", r.Raw)
	}
	if err := json.Unmarshal(page.Items, v); err != nil {
		t.Fatalf("decode items %s: %v", r.Raw, err)
	}
	if page.NextCursor == nil {
		return ""
	}
	return *page.NextCursor
}

// Request describes one call.
type Request struct {
	Method, Path string
	// Body is JSON-encoded unless it is a string or []byte, sent as is.
	Body    any
	Token   string
	Headers map[string]string
}

// Do sends a request and decodes the envelope.
func (h *Harness) Do(req Request) *Response {
	h.t.Helper()
	var body io.Reader
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatalf("encode body: %v", err)
		}
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequest(req.Method, h.URL+req.Path, body)
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer res.Body.Close()
	out := &Response{Status: res.StatusCode, Header: res.Header}
	out.Raw, _ = io.ReadAll(res.Body)
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(out.Raw, &out.Body); err != nil {
			h.t.Fatalf("%s %s: response is not an envelope: %s", req.Method, req.Path, out.Raw)
		}
	}
	return out
}

// Call is Do for the common case; it fails the test unless the status is want.
func (h *Harness) Call(want int, method, path, token string, body any) *Response {
	h.t.Helper()
	r := h.Do(Request{Method: method, Path: path, Token: token, Body: body})
	if r.Status != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	return r
}

// Session is a signed-in user.
type Session struct {
	UserID       string
	Email        string
	Password     string
	AccessToken  string
	RefreshToken string
}

// SignUp creates an account and signs in.
func (h *Harness) SignUp(email, password string) Session {
	h.t.Helper()
	h.Call(http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{"email": email, "password": password, "name": "Test " + email})
	return h.Login(email, password)
}

// Login signs in and fails the test if that does not work.
func (h *Harness) Login(email, password string) Session {
	h.t.Helper()
	r := h.Call(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	var tok struct {
		AccessToken, RefreshToken string
		User                      struct{ ID string }
	}
	r.Data(h.t, &tok)
	return Session{UserID: tok.User.ID, Email: email, Password: password, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}
}

// Admin signs in as the SUPER_ADMIN.
func (h *Harness) Admin() Session { return h.Login(AdminEmail, AdminPassword) }

// Mail is one message from the outbox.
type Mail struct {
	To, Subject, Body string
}

// WaitMail waits up to 10 s for the n-th (1-based) mail to `to` and returns
// it. Mail leaves through jobs, so the node must run job workers (the
// default).
func (h *Harness) WaitMail(to string, n int) Mail {
	h.t.Helper()
	return h.WaitMailAbout(to, "", n)
}

// WaitMailAbout is WaitMail counting only mails whose subject contains about.
func (h *Harness) WaitMailAbout(to, about string, n int) Mail {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var mails []Mail
		for _, m := range h.Mails(to) {
			if strings.Contains(m.Subject, about) {
				mails = append(mails, m)
			}
		}
		if len(mails) >= n {
			return mails[n-1]
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no mail #%d to %s (have %d)", n, to, len(mails))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Mails lists the mails to `to`, oldest first.
func (h *Harness) Mails(to string) []Mail {
	entries, _ := os.ReadDir(h.MailDir)
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".eml") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []Mail
	for _, n := range names {
		raw, err := os.ReadFile(filepath.Join(h.MailDir, n))
		if err != nil {
			continue
		}
		head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
		m := Mail{}
		for _, line := range strings.Split(head, "\r\n") {
			if v, ok := strings.CutPrefix(line, "To: "); ok {
				m.To = v
			}
			if v, ok := strings.CutPrefix(line, "Subject: "); ok {
				m.Subject = v
			}
		}
		dec, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
		m.Body = string(dec)
		if strings.EqualFold(m.To, to) {
			out = append(out, m)
		}
	}
	return out
}

var tokenLine = regexp.MustCompile(`(?m)^([A-Za-z0-9_-]{40,})\r?$`)

// TokenIn extracts the bare token line from a mail body.
func TokenIn(t testing.TB, m Mail) string {
	t.Helper()
	match := tokenLine.FindStringSubmatch(m.Body)
	if match == nil {
		t.Fatalf("no token in mail %q: %s", m.Subject, m.Body)
	}
	return match[1]
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
