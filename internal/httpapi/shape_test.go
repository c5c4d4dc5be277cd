package httpapi_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
)

// A known path asked with a method it does not serve answers 405 with Allow
// and the envelope, under the API and the hooks; an unknown path stays 404;
// HEAD of a GET route still works.
func TestMethodNotAllowed_Envelope(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("method@example.com", authPassword)
		r := f.Do(apptest.Request{Method: "PUT", Path: "/api/v1/me/sessions", Token: s.AccessToken})
		wantErrLike(f.t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "PUT is not allowed")
		if got := r.Header.Get("Allow"); got != "GET, HEAD" {
			f.t.Fatalf("Allow = %q, want GET, HEAD", got)
		}
		r = f.Do(apptest.Request{Method: "DELETE", Path: "/api/v1/auth/login"})
		f.wantErr(r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "")
		if got := r.Header.Get("Allow"); got != "POST" {
			f.t.Fatalf("Allow = %q, want POST", got)
		}
		r = f.Do(apptest.Request{Method: "DELETE", Path: "/hooks/stripe"})
		f.wantErr(r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "")
		if got := r.Header.Get("Allow"); got != "POST" {
			f.t.Fatalf("Allow on a hook = %q, want POST", got)
		}
		f.wantErr(f.Do(apptest.Request{Method: "GET", Path: "/api/v1/no-such-thing"}), http.StatusNotFound, "NOT_FOUND", "")
		f.wantErr(f.Do(apptest.Request{Method: "GET", Path: "/hooks/no-such-thing"}), http.StatusNotFound, "NOT_FOUND", "")
		req, _ := http.NewRequest("HEAD", f.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+s.AccessToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			f.t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			f.t.Fatalf("HEAD /api/v1/me: %d", res.StatusCode)
		}
	})
}

// JSON routes take JSON only: another media type is 415, a null body or a
// null where an object is required is 400.
func TestJSONBody_MediaTypeAndNull(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("media@example.com", authPassword)
		send := func(ct, body string) *apptest.Response {
			hdr := map[string]string{}
			if ct != "" {
				hdr["Content-Type"] = ct
			}
			r := f.Do(apptest.Request{Method: "PATCH", Path: "/api/v1/me", Token: s.AccessToken, Body: body, Headers: hdr})
			return r
		}
		wantErrLike(f.t, send("text/plain", `{"name":"X"}`), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "application/json")
		wantErrLike(f.t, send("application/x-www-form-urlencoded", `name=X`), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "")
		for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/merge-patch+json", "Application/JSON;charset=UTF-8"} {
			if r := send(ct, `{"name":"Renamed"}`); r.Status != http.StatusOK {
				f.t.Fatalf("%s: %d %s", ct, r.Status, r.Raw)
			}
		}
		wantErrLike(f.t, send("application/json", `null`), http.StatusBadRequest, "VALIDATION_ERROR", "not null")
		wantErrLike(f.t, send("application/json", ` null `), http.StatusBadRequest, "VALIDATION_ERROR", "not null")

		// Without a Content-Type: a body is refused as of unknown type, no
		// body is the usual "empty" validation error.
		req, _ := http.NewRequest("PATCH", f.URL+"/api/v1/me", strings.NewReader(`{"name":"X"}`))
		req.Header.Set("Authorization", "Bearer "+s.AccessToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			f.t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnsupportedMediaType {
			f.t.Fatalf("no Content-Type with a body: %d", res.StatusCode)
		}
		wantErrLike(f.t, f.Do(apptest.Request{Method: "PATCH", Path: "/api/v1/me", Token: s.AccessToken}), http.StatusBadRequest, "VALIDATION_ERROR", "empty")

		// The same on a route that reads its body raw.
		validate := func(ct, body string) *apptest.Response {
			return f.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/validate", Token: s.AccessToken, Body: body,
				Headers: map[string]string{"Content-Type": ct}})
		}
		wantErrLike(f.t, validate("text/yaml", `{}`), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "")
		wantErrLike(f.t, validate("application/json", `null`), http.StatusBadRequest, "VALIDATION_ERROR", "not null")

		// The OpenAPI document says so.
		login := f.App.HTTP.OpenAPI()["paths"].(map[string]any)["/api/v1/auth/login"].(map[string]any)["post"].(map[string]any)
		if _, ok := login["responses"].(map[string]any)["415"]; !ok {
			f.t.Fatalf("POST /api/v1/auth/login documents no 415: %v", login["responses"])
		}
	})
}

// wantErrLike fails unless r is the error envelope with this status and
// code and a message containing msg.
func wantErrLike(t *testing.T, r *apptest.Response, status int, code, msg string) {
	t.Helper()
	if r.Status != status || r.Body.Success || r.Code() != code {
		t.Fatalf("want %d %s, got %d: %s", status, code, r.Status, r.Raw)
	}
	if !strings.Contains(r.Body.Error.Message, msg) {
		t.Fatalf("want a message with %q, got %q", msg, r.Body.Error.Message)
	}
}

// Durations in workflow definitions are bounds-checked in their own unit:
// values so large that multiplying them into a time.Duration wraps around
// used to pass as small or negative durations.
func TestWorkflowDurations_OutOfRange(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("durations@example.com", authPassword)
		step := func(extra map[string]any) map[string]any {
			st := map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "`1`"}}
			for k, v := range extra {
				st[k] = v
			}
			return st
		}
		def := func(trigger map[string]any, settings map[string]any, st map[string]any) map[string]any {
			d := map[string]any{"trigger": trigger, "startStepId": "a", "steps": []any{st}}
			if settings != nil {
				d["settings"] = settings
			}
			return d
		}
		manual := map[string]any{"type": "manual"}
		const huge = 9223372037 // seconds: ×1e9 wraps int64 negative
		cases := []struct {
			name  string
			def   map[string]any
			field string
		}{
			{"run timeout", def(manual, map[string]any{"timeoutSeconds": huge}, step(nil)), "definition.settings.timeoutSeconds"},
			{"run timeout ms-sized", def(manual, map[string]any{"timeoutSeconds": int64(1) << 62}, step(nil)), "definition.settings.timeoutSeconds"},
			{"delay", def(manual, nil, map[string]any{"id": "a", "type": "delay", "config": map[string]any{"seconds": huge}}), ".config.seconds"},
			{"retry backoff", def(manual, nil, step(map[string]any{"onError": "retry", "retryCount": 1, "retryBackoffMs": int64(huge) * 1000})), ".retryBackoffMs"},
			{"sync webhook timeout", def(map[string]any{"type": "webhook", "mode": "sync", "timeoutMs": int64(huge) * 1000}, nil, step(nil)), ".timeoutMs"},
			{"plugin timeout", def(manual, nil, map[string]any{"id": "a", "type": "plugin", "config": map[string]any{"plugin": "http-request", "timeoutMs": int64(huge) * 1000}}), ".config.timeoutMs"},
		}
		for _, c := range cases {
			r := f.post("/api/v1/workflows/validate", s.AccessToken, c.def)
			if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" || !strings.Contains(string(r.Raw), c.field) || !strings.Contains(string(r.Raw), "must be from") {
				f.t.Fatalf("%s: want 400 naming %s and its range, got %d: %s", c.name, c.field, r.Status, r.Raw)
			}
		}
		// The largest allowed values pass.
		ok := def(manual, map[string]any{"timeoutSeconds": 7 * 24 * 3600}, map[string]any{"id": "a", "type": "delay", "config": map[string]any{"seconds": 30 * 24 * 3600}})
		if r := f.post("/api/v1/workflows/validate", s.AccessToken, ok); r.Status != http.StatusOK {
			f.t.Fatalf("maximum values: %d %s", r.Status, r.Raw)
		}

		// A schedule interval given in seconds, so far out of range that
		// multiplying it wraps around to exactly one minute: refused when
		// saved and in the editor's preview.
		const wraps = "-36028797018963908"
		r := f.post("/api/v1/workflows/validate", s.AccessToken, def(map[string]any{"type": "schedule", "interval": wraps}, nil, step(nil)))
		wantErrLike(f.t, r, http.StatusBadRequest, "VALIDATION_ERROR", "at least 1s")
		r = f.Do(apptest.Request{Method: "GET", Path: "/api/v1/schedules/preview?interval=" + wraps, Token: s.AccessToken})
		wantErrLike(f.t, r, http.StatusBadRequest, "VALIDATION_ERROR", "at least 1s")
		r = f.Do(apptest.Request{Method: "GET", Path: "/api/v1/schedules/preview?interval=9223372037", Token: s.AccessToken})
		wantErrLike(f.t, r, http.StatusBadRequest, "VALIDATION_ERROR", "at most")

		// A manual run's waitMs too.
		var wf struct {
			ID string `json:"id"`
		}
		f.Call(http.StatusCreated, "POST", "/api/v1/workflows", s.AccessToken, map[string]any{"name": "w", "definition": def(manual, nil, step(nil))}).Data(f.t, &wf)
		r = f.post("/api/v1/workflows/"+wf.ID+"/runs", s.AccessToken, map[string]any{"wait": true, "waitMs": int64(huge) * 1000})
		wantErrLike(f.t, r, http.StatusBadRequest, "VALIDATION_ERROR", "waitMs: must be from 0 to 60000")
	})
}

// Auto top-up settings are validated when they are saved switched off too:
// switching on later must not find nonsense stored.
func TestCreditSettings_ValidatedWhenDisabled(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("topup@example.com", authPassword)
		put := func(body map[string]any) *apptest.Response {
			return f.Do(apptest.Request{Method: "PUT", Path: "/api/v1/credits/settings", Token: s.AccessToken, Body: body})
		}
		for _, c := range []struct {
			topUp map[string]any
			field string
		}{
			{map[string]any{"enabled": false, "amount": 7}, "autoTopUp.amount"},
			{map[string]any{"enabled": false, "amount": -1000}, "autoTopUp.amount"},
			{map[string]any{"amount": 123456789}, "autoTopUp.amount"},
			{map[string]any{"enabled": false, "threshold": -5}, "autoTopUp.threshold"},
		} {
			wantErrLike(f.t, put(map[string]any{"autoTopUp": c.topUp}), http.StatusBadRequest, "VALIDATION_ERROR", c.field+": must be")
		}
		var b struct {
			Settings struct {
				AutoTopUp struct{ Amount, Threshold int64 } `json:"autoTopUp"`
			} `json:"settings"`
		}
		f.Call(http.StatusOK, "GET", "/api/v1/credits", s.AccessToken, nil).Data(f.t, &b)
		if b.Settings.AutoTopUp.Amount != 0 || b.Settings.AutoTopUp.Threshold != 0 {
			f.t.Fatalf("refused settings were stored: %+v", b.Settings)
		}
		// A real pack amount may be stored switched off.
		var packs []struct{ Credits int64 }
		f.Call(http.StatusOK, "GET", "/api/v1/billing/packs", s.AccessToken, nil).Items(f.t, &packs)
		if r := put(map[string]any{"autoTopUp": map[string]any{"enabled": false, "amount": packs[0].Credits, "threshold": 1000}}); r.Status != http.StatusOK {
			f.t.Fatalf("valid disabled settings: %d %s", r.Status, r.Raw)
		}
	})
}

// Every listing answers {items, nextCursor} with items an array, and every
// listing refuses a cursor it could not have produced (a single-page one,
// any cursor).
func TestLists_ShapeAndMalformedCursor(t *testing.T) {
	runAuth(t, func(f authFlow) {
		admin := f.Admin()
		o := createOrg(f.t, f.Harness, admin, "Listers")
		var wf struct {
			ID string `json:"id"`
		}
		f.Call(http.StatusCreated, "POST", "/api/v1/workflows", admin.AccessToken, map[string]any{"name": "w", "definition": map[string]any{
			"trigger": map[string]any{"type": "manual"}, "startStepId": "a",
			"steps": []any{map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "`1`"}}}}}).Data(f.t, &wf)
		concrete := strings.NewReplacer(
			"/admin/users/{id}", "/admin/users/"+admin.UserID,
			"/orgs/{id}", "/orgs/"+o.ID,
			"/workflows/{id}", "/workflows/"+wf.ID,
			// Unknown ids: the cursor is checked before the lookup.
			"/gateways/{id}", "/gateways/gw_01jzzzzzzzzzzzzzzzzzzzzzzz",
			"/installations/{id}", "/installations/ins_01jzzzzzzzzzzzzzzzzzzzzzzz",
			"/event-subscriptions/{id}", "/event-subscriptions/evsub_01jzzzzzzzzzzzzzzzzzzzzzzz",
		)
		doc := f.App.HTTP.OpenAPI()
		paths := doc["paths"].(map[string]any)
		components, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)
		// Named types are components: follow a $ref to the schema it names.
		resolve := func(s map[string]any) map[string]any {
			if ref, ok := s["$ref"].(string); ok {
				got, _ := components[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
				return got
			}
			return s
		}
		lists := 0
		for p, raw := range paths {
			get, ok := raw.(map[string]any)["get"].(map[string]any)
			if !ok {
				continue
			}
			ok200, _ := get["responses"].(map[string]any)["200"].(map[string]any)
			content, _ := ok200["content"].(map[string]any)
			if content == nil {
				continue
			}
			jsonBody, _ := content["application/json"].(map[string]any)
			if jsonBody == nil {
				continue
			}
			schema := jsonBody["schema"].(map[string]any)
			envelope, _ := schema["properties"].(map[string]any)
			if envelope == nil {
				continue // not the envelope: an answer of the caller's own making
			}
			data, _ := envelope["data"].(map[string]any)
			data = resolve(data)
			props, _ := data["properties"].(map[string]any)
			if data["type"] == "array" {
				f.t.Errorf("GET %s answers a bare array", p)
				continue
			}
			_, hasItems := props["items"]
			_, hasNext := props["nextCursor"]
			takesCursor := false
			params, _ := get["parameters"].([]any)
			for _, pa := range params {
				if pa.(map[string]any)["name"] == "cursor" {
					takesCursor = true
				}
			}
			if takesCursor && !(hasItems && hasNext) {
				f.t.Errorf("GET %s takes a cursor but does not declare {items, nextCursor}", p)
			}
			if !hasItems || !hasNext {
				continue // not a listing (a report may hold items of its own)
			}
			lists++
			path := concrete.Replace(p)
			if strings.Contains(path, "{") {
				f.t.Errorf("GET %s: no concrete path for the test", p)
				continue
			}
			if !strings.Contains(p, "{id}/events") && !strings.Contains(p, "{id}/executions") && !strings.Contains(p, "{id}/sends") &&
				!strings.Contains(p, "{id}/deliveries") {
				r := f.Call(http.StatusOK, "GET", path, admin.AccessToken, nil)
				var items []any
				r.Items(f.t, &items)
				if !strings.Contains(string(r.Raw), `"nextCursor":`) {
					f.t.Errorf("GET %s: no nextCursor: %s", p, r.Raw)
				}
			}
			// A listing that pages refuses a cursor it did not produce; one
			// answered in a single page produces none, so refuses any.
			r := f.Do(apptest.Request{Method: "GET", Path: path + "?cursor=%21not-a-cursor", Token: admin.AccessToken})
			wantErrLike(f.t, r, http.StatusBadRequest, "VALIDATION_ERROR", "cursor")
		}
		if lists < 20 {
			f.t.Fatalf("found %d listings in the OpenAPI document; the walk is broken", lists)
		}
	})
}

// Lists that can grow page with limit and cursor: no item twice, none
// lost, the last page's nextCursor null.
func TestLists_CursorPagination(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("pager@example.com", authPassword)
		for range 3 {
			f.Login(s.Email, authPassword)
		}
		for i := range 3 {
			f.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", s.AccessToken, map[string]any{"name": "k" + strconv.Itoa(i)})
		}
		walk := func(path, token string, limit int) []string {
			var all []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 20 {
					f.t.Fatalf("%s: pages never end", path)
				}
				q := "?limit=" + strconv.Itoa(limit)
				if cursor != "" {
					q += "&cursor=" + url.QueryEscape(cursor)
				}
				var items []struct {
					ID      string `json:"id"`
					Key     string `json:"key"`
					Version int    `json:"version"`
				}
				r := f.Call(http.StatusOK, "GET", path+q, token, nil)
				if !strings.Contains(string(r.Raw), `"nextCursor":`) {
					f.t.Fatalf("%s: no nextCursor: %s", path, r.Raw)
				}
				cursor = r.Items(f.t, &items)
				if len(items) > limit {
					f.t.Fatalf("%s: %d items on a page of %d", path, len(items), limit)
				}
				for _, it := range items {
					all = append(all, it.ID+it.Key+strconv.Itoa(it.Version))
				}
				if cursor == "" {
					return all
				}
			}
		}
		whole := func(path, token string) []string { return walk(path, token, 200) }
		for _, c := range []struct {
			path  string
			token string
			min   int
		}{
			{"/api/v1/me/sessions", s.AccessToken, 4},
			{"/api/v1/me/api-keys", s.AccessToken, 3},
		} {
			all := whole(c.path, c.token)
			if len(all) < c.min {
				f.t.Fatalf("%s: %d items, want at least %d", c.path, len(all), c.min)
			}
			if paged := walk(c.path, c.token, 2); strings.Join(paged, ",") != strings.Join(all, ",") {
				f.t.Fatalf("%s: pages of 2 give %v, one page %v", c.path, paged, all)
			}
		}
		admin := f.Admin()
		o := createOrg(f.t, f.Harness, admin, "Pagers")
		for i := range 3 {
			f.Call(http.StatusCreated, "POST", "/api/v1/orgs/"+o.ID+"/invitations", admin.AccessToken,
				map[string]string{"email": "invitee" + strconv.Itoa(i) + "@example.com", "orgRole": "ORG_MEMBER"})
		}
		invitations := whole("/api/v1/orgs/"+o.ID+"/invitations", admin.AccessToken)
		if paged := walk("/api/v1/orgs/"+o.ID+"/invitations", admin.AccessToken, 2); len(invitations) != 3 || strings.Join(paged, ",") != strings.Join(invitations, ",") {
			f.t.Fatalf("invitations: pages of 2 give %v, one page %v", paged, invitations)
		}
		flags := whole("/api/v1/admin/flags", admin.AccessToken)
		if paged := walk("/api/v1/admin/flags", admin.AccessToken, 1); strings.Join(paged, ",") != strings.Join(flags, ",") || len(flags) < 2 {
			f.t.Fatalf("flags: pages of 1 give %v, one page %v", paged, flags)
		}

		// Workflow versions, newest first, by version number.
		var wf struct {
			ID string `json:"id"`
		}
		def := map[string]any{"trigger": map[string]any{"type": "manual"}, "startStepId": "a",
			"steps": []any{map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "`1`"}}}}
		f.Call(http.StatusCreated, "POST", "/api/v1/workflows", s.AccessToken, map[string]any{"name": "w", "definition": def}).Data(f.t, &wf)
		for _, name := range []string{"w2", "w3"} {
			f.Call(http.StatusOK, "PUT", "/api/v1/workflows/"+wf.ID, s.AccessToken, map[string]any{"name": name})
		}
		var first []struct{ Version int }
		cursor := f.Call(http.StatusOK, "GET", "/api/v1/workflows/"+wf.ID+"/versions?limit=2", s.AccessToken, nil).Items(f.t, &first)
		if len(first) != 2 || first[0].Version != 3 || first[1].Version != 2 || cursor != "2" {
			f.t.Fatalf("first page %+v, cursor %q", first, cursor)
		}
		var rest []struct{ Version int }
		if next := f.Call(http.StatusOK, "GET", "/api/v1/workflows/"+wf.ID+"/versions?limit=2&cursor=2", s.AccessToken, nil).Items(f.t, &rest); next != "" || len(rest) != 1 || rest[0].Version != 1 {
			f.t.Fatalf("second page %+v, cursor %q", rest, next)
		}
	})
}
