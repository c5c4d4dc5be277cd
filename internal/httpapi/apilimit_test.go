package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// frozenClock is the rate limiter's clock in these tests: time moves only
// when the test says, so counts are exact however slow the machine.
type frozenClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *frozenClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *frozenClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// runLimited runs fn on every engine with a node on the production API
// rate limits and a frozen limiter clock.
func runLimited(t *testing.T, fn func(t *testing.T, h *apptest.Harness, clk *frozenClock)) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		t.Parallel()
		clk := &frozenClock{t: time.Now()}
		opt := apptest.FastHashing
		opt.RateLimitClock = clk.Now
		fn(t, apptest.StartWith(t, url, opt, apptest.ProductionRateLimits), clk)
	})
}

type rateHeaders struct{ limit, remaining, reset int }

// rateOf reads the RateLimit-* headers, failing the test if one is missing.
func rateOf(t *testing.T, r *apptest.Response) rateHeaders {
	t.Helper()
	var out rateHeaders
	for name, dst := range map[string]*int{"RateLimit-Limit": &out.limit, "RateLimit-Remaining": &out.remaining, "RateLimit-Reset": &out.reset} {
		v, err := strconv.Atoi(r.Header.Get(name))
		if err != nil {
			t.Fatalf("%s: %q (status %d: %s)", name, r.Header.Get(name), r.Status, r.Raw)
		}
		*dst = v
	}
	return out
}

func noRateHeaders(t *testing.T, what string, r *apptest.Response) {
	t.Helper()
	for _, name := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		if v := r.Header.Get(name); v != "" {
			t.Fatalf("%s carries %s: %s", what, name, v)
		}
	}
}

// wantRateLimited fails unless r is a 429 RATE_LIMITED for scope with a
// Retry-After of retry seconds and headers of the limit, nothing left.
func wantRateLimited(t *testing.T, r *apptest.Response, scope string, limit, retry int) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests || r.Code() != "RATE_LIMITED" {
		t.Fatalf("want 429 RATE_LIMITED, got %d: %s", r.Status, r.Raw)
	}
	if got := r.Header.Get("Retry-After"); got != strconv.Itoa(retry) {
		t.Fatalf("Retry-After %q, want %d", got, retry)
	}
	if rh := rateOf(t, r); rh.limit != limit || rh.remaining != 0 || rh.reset < retry || rh.reset > 60 {
		t.Fatalf("headers of the refusal: %+v, want limit %d", rh, limit)
	}
	var d struct {
		Scope             string
		Limit             int
		RetryAfterSeconds int
	}
	if err := json.Unmarshal(r.Body.Error.Details, &d); err != nil || d.Scope != scope || d.Limit != limit || d.RetryAfterSeconds != retry {
		t.Fatalf("details %s, want scope %s", r.Body.Error.Details, scope)
	}
}

func get(h *apptest.Harness, path, token string) *apptest.Response {
	return h.Do(apptest.Request{Method: "GET", Path: path, Token: token})
}

// An API key gets its plan's limit (FREE: 60 a minute), counted down in
// the headers of every answer, then 429 with a Retry-After of when the
// next request is allowed; time refills it. A session counts under the
// user in the workspace.
func TestAPIRateLimit_KeyLimitHeadersAndRetryAfter(t *testing.T) {
	runLimited(t, func(t *testing.T, h *apptest.Harness, clk *frozenClock) {
		s := h.SignUp("limited@example.com", "correct horse battery")
		r := get(h, "/api/v1/me", s.AccessToken)
		if rh := rateOf(t, r); r.Status != http.StatusOK || rh != (rateHeaders{60, 59, 1}) {
			t.Fatalf("session: %d %+v", r.Status, rh)
		}
		var k struct{ Key string }
		h.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", s.AccessToken, map[string]string{"name": "bot"}).Data(t, &k)

		for i := range 60 {
			r := get(h, "/api/v1/me", k.Key)
			if r.Status != http.StatusOK {
				t.Fatalf("request %d: %d %s", i+1, r.Status, r.Raw)
			}
			if rh := rateOf(t, r); rh != (rateHeaders{60, 59 - i, i + 1}) {
				t.Fatalf("request %d: headers %+v", i+1, rh)
			}
		}
		r = get(h, "/api/v1/me", k.Key)
		wantRateLimited(t, r, "apiKey", 60, 1)
		if !strings.Contains(r.Body.Error.Message, "FREE plan allows 60 API requests per minute per API key") {
			t.Fatalf("message: %s", r.Body.Error.Message)
		}
		// Any route of the API counts, refusals or not.
		wantRateLimited(t, get(h, "/api/v1/gateways", k.Key), "apiKey", 60, 1)

		// The session has its own allowance.
		if r := get(h, "/api/v1/me", s.AccessToken); r.Status != http.StatusOK {
			t.Fatalf("session after the key's limit: %d %s", r.Status, r.Raw)
		}
		clk.Add(time.Second)
		if r := get(h, "/api/v1/me", k.Key); r.Status != http.StatusOK || rateOf(t, r).remaining != 0 {
			t.Fatalf("a second later: %d %s", r.Status, r.Raw)
		}
		clk.Add(time.Minute)
		if r := get(h, "/api/v1/me", k.Key); r.Status != http.StatusOK || rateOf(t, r) != (rateHeaders{60, 59, 1}) {
			t.Fatalf("a minute later: %d %+v", r.Status, rateOf(t, r))
		}

		// Answers no plan limit applies to carry no headers: public routes
		// and refused credentials.
		noRateHeaders(t, "openapi", get(h, "/api/v1/openapi.json", ""))
		noRateHeaders(t, "bad key", get(h, "/api/v1/me", "sbk_nope"))
	})
}

// Keys have separate buckets but share the workspace's (FREE: 120 a
// minute); sessions count toward it too. Inbound hooks are not counted
// and still run when the workspace is over its limit.
func TestAPIRateLimit_WorkspaceAcrossKeysHooksExempt(t *testing.T) {
	runLimited(t, func(t *testing.T, h *apptest.Harness, clk *frozenClock) {
		s := h.SignUp("team@example.com", "correct horse battery")
		keys := make([]string, 3)
		for i := range keys {
			var k struct{ Key string }
			h.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", s.AccessToken, map[string]string{"name": "bot"}).Data(t, &k)
			keys[i] = k.Key
		}
		def := map[string]any{
			"trigger":     map[string]any{"type": "webhook", "mode": "sync"},
			"startStepId": "t",
			"steps":       []any{map[string]any{"id": "t", "type": "transform", "config": map[string]any{"expression": "{ok: true}"}}},
		}
		var wf struct{ HookURL string }
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", s.AccessToken, map[string]any{"name": "hook", "definition": def}).Data(t, &wf)
		hook := wf.HookURL[strings.Index(wf.HookURL, "/hooks/"):]
		used := 4 // three keys and the workflow

		for i := range 60 {
			if r := get(h, "/api/v1/me", keys[0]); r.Status != http.StatusOK {
				t.Fatalf("key 1, request %d: %d %s", i+1, r.Status, r.Raw)
			}
		}
		used += 60
		wantRateLimited(t, get(h, "/api/v1/me", keys[0]), "apiKey", 60, 1)

		// Key 2 has a bucket of its own, but the workspace has only
		// 120-64 = 56 left, which its headers say once they are fewer.
		allowed := 0
		var last *apptest.Response
		for range 60 {
			last = get(h, "/api/v1/me", keys[1])
			if last.Status != http.StatusOK {
				break
			}
			allowed++
			if rh := rateOf(t, last); rh.limit != 120 || rh.remaining != 120-used-allowed {
				t.Fatalf("key 2, request %d: headers %+v", allowed, rh)
			}
		}
		if allowed != 120-used {
			t.Fatalf("key 2 made %d requests, want %d", allowed, 120-used)
		}
		// The workspace refills two a second: the next in half a second.
		wantRateLimited(t, last, "workspace", 120, 1)
		wantRateLimited(t, get(h, "/api/v1/me", keys[2]), "workspace", 120, 1)
		wantRateLimited(t, get(h, "/api/v1/me", s.AccessToken), "workspace", 120, 1)

		for i := range 3 {
			r := h.Do(apptest.Request{Method: "POST", Path: hook, Body: `{}`})
			if r.Status != http.StatusOK {
				t.Fatalf("hook %d with the workspace over its API limit: %d %s", i+1, r.Status, r.Raw)
			}
			noRateHeaders(t, "hook", r)
		}

		clk.Add(time.Second)
		if r := get(h, "/api/v1/me", keys[2]); r.Status != http.StatusOK {
			t.Fatalf("a second later: %d %s", r.Status, r.Raw)
		}
	})
}

// An upgrade takes effect on the next request: the requests used so far
// count against the new, higher limit.
func TestAPIRateLimit_PlanChangeRaisesTheLimit(t *testing.T) {
	runLimited(t, func(t *testing.T, h *apptest.Harness, clk *frozenClock) {
		s := h.SignUp("grows@example.com", "correct horse battery")
		var k struct{ Key string }
		h.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", s.AccessToken, map[string]string{"name": "bot"}).Data(t, &k)
		for range 60 {
			h.Call(http.StatusOK, "GET", "/api/v1/me", k.Key, nil)
		}
		wantRateLimited(t, get(h, "/api/v1/me", k.Key), "apiKey", 60, 1)

		admin := h.Admin()
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+s.UserID, admin.AccessToken, map[string]any{"plan": "PRO"})

		r := get(h, "/api/v1/me", k.Key)
		if rh := rateOf(t, r); r.Status != http.StatusOK || rh.limit != 1200 || rh.remaining != 1200-61 {
			t.Fatalf("on PRO: %d %+v %s", r.Status, rh, r.Raw)
		}
		// The plan's limits are part of the usage report.
		var u struct {
			Limits struct{ APIRequestsPerMinute, APIWorkspaceRequestsPerMinute int }
		}
		h.Call(http.StatusOK, "GET", "/api/v1/usage", k.Key, nil).Data(t, &u)
		if u.Limits.APIRequestsPerMinute != 1200 || u.Limits.APIWorkspaceRequestsPerMinute != 2400 {
			t.Fatalf("usage limits: %+v", u.Limits)
		}
	})
}

// On the production defaults and the real clock, a burst from one key is
// refused soon after the FREE plan's 60, with headers counting down.
func TestAPIRateLimit_ProductionDefaults(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		t.Parallel()
		h := apptest.Start(t, url, apptest.ProductionRateLimits)
		s := h.SignUp("burst@example.com", "correct horse battery")
		var k struct{ Key string }
		h.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", s.AccessToken, map[string]string{"name": "bot"}).Data(t, &k)
		first := -1
		for i := range 200 {
			r := get(h, "/api/v1/me", k.Key)
			if r.Status == http.StatusOK {
				rh := rateOf(t, r)
				if rh.limit != 60 || rh.remaining > 59 || rh.reset < 1 || rh.reset > 60 {
					t.Fatalf("request %d: %+v", i+1, rh)
				}
				if first < 0 {
					first = rh.remaining
				}
				continue
			}
			if i < 60 || r.Status != http.StatusTooManyRequests || r.Code() != "RATE_LIMITED" {
				t.Fatalf("request %d: %d %s", i+1, r.Status, r.Raw)
			}
			ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 60 || rateOf(t, r).limit != 60 || first != 59 {
				t.Fatalf("refusal: Retry-After %q, first remaining %d, %+v", r.Header.Get("Retry-After"), first, rateOf(t, r))
			}
			return
		}
		t.Fatal("200 requests in a burst and none refused")
	})
}

// An impersonation session has a bucket of its own, so an admin's support
// work does not use up the user's allowance, but it counts toward the
// user's workspace. The admin's own calls count under the admin's own
// workspace: admins are not exempt.
func TestAPIRateLimit_ImpersonationAndAdmins(t *testing.T) {
	runLimited(t, func(t *testing.T, h *apptest.Harness, clk *frozenClock) {
		s := h.SignUp("helped@example.com", "correct horse battery")
		for range 60 {
			h.Call(http.StatusOK, "GET", "/api/v1/me", s.AccessToken, nil)
		}
		wantRateLimited(t, get(h, "/api/v1/me", s.AccessToken), "user", 60, 1)

		admin := h.Admin()
		var tok struct{ AccessToken string }
		r := h.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+s.UserID+"/impersonate", admin.AccessToken, nil)
		r.Data(t, &tok)
		if rh := rateOf(t, r); rh != (rateHeaders{60, 59, 1}) {
			t.Fatalf("the admin's own call: %+v", rh)
		}
		// The impersonation has its 60, but the workspace has 120-61 left:
		// as many, and the workspace's take longer to refill.
		r = get(h, "/api/v1/me", tok.AccessToken)
		if rh := rateOf(t, r); r.Status != http.StatusOK || rh != (rateHeaders{120, 59, 31}) {
			t.Fatalf("impersonating: %d %+v %s", r.Status, rh, r.Raw)
		}
		wantRateLimited(t, get(h, "/api/v1/me", s.AccessToken), "user", 60, 1)
	})
}

// A session acting in an organization counts under the organization's
// workspace and plan, apart from the member's personal workspace.
func TestAPIRateLimit_OrganizationWorkspace(t *testing.T) {
	runLimited(t, func(t *testing.T, h *apptest.Harness, clk *frozenClock) {
		owner := h.SignUp("org-owner@example.com", pw)
		o := createOrg(t, h, owner, "Acme")
		if _, err := h.App.DB.SQL().ExecContext(context.Background(), `UPDATE organizations SET plan = 'BUSINESS' WHERE id = $1`, o.ID); err != nil {
			t.Fatal(err)
		}
		org := switchTo(t, h, owner, o.ID)
		for i := range 3 {
			r := get(h, "/api/v1/me", org)
			if rh := rateOf(t, r); r.Status != http.StatusOK || rh != (rateHeaders{3000, 2999 - i, 1}) {
				t.Fatalf("in the organization, request %d: %d %+v", i+1, r.Status, rh)
			}
		}
		// Personal: creating the organization and switching, then this.
		if rh := rateOf(t, get(h, "/api/v1/me", owner.AccessToken)); rh != (rateHeaders{60, 57, 3}) {
			t.Fatalf("personal: %+v", rh)
		}
	})
}
