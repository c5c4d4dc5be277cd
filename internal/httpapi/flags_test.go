package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type flagValue struct {
	Enabled bool   `json:"enabled"`
	Variant string `json:"variant"`
}

type evaluated struct {
	Version int64                `json:"version"`
	Flags   map[string]flagValue `json:"flags"`
}

type flagView struct {
	Key             string   `json:"key"`
	Enabled         bool     `json:"enabled"`
	UserIDs         []string `json:"userIds"`
	Roles           []string `json:"roles"`
	Plans           []string `json:"plans"`
	Percentage      *int     `json:"percentage"`
	Variants        []any    `json:"variants"`
	CreatedBy       string   `json:"createdBy"`
	OrganizationIDs []string `json:"organizationIds"`
}

func myFlags(t testing.TB, h *apptest.Harness, token string) evaluated {
	t.Helper()
	var e evaluated
	h.Call(http.StatusOK, "GET", "/api/v1/flags", token, nil).Data(t, &e)
	return e
}

// signUpAs creates an account and has the admin give it a role and plan.
func signUpAs(t *testing.T, h *apptest.Harness, admin, email, role, plan string) apptest.Session {
	t.Helper()
	s := h.SignUp(email, pw)
	h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+s.UserID, admin, map[string]string{"role": role, "plan": plan})
	return s
}

func TestFlags_AdminTargetsAndRollsOutOverHTTP(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		admin := h.Admin().AccessToken
		dev := signUpAs(t, h, admin, "dev@example.com", "DEVELOPER", "FREE")
		pro := signUpAs(t, h, admin, "pro@example.com", "MEMBER", "PRO")
		plain := signUpAs(t, h, admin, "plain@example.com", "MEMBER", "FREE")
		who := map[string]string{"dev": dev.AccessToken, "pro": pro.AccessToken, "plain": plain.AccessToken}

		// expect checks new_inbox for every user after a change.
		expect := func(step string, want map[string]bool) {
			t.Helper()
			for name, tok := range who {
				got := myFlags(t, h, tok).Flags["new_inbox"].Enabled
				if got != want[name] {
					t.Errorf("%s: new_inbox for %s = %v, want %v", step, name, got, want[name])
				}
			}
		}
		var f flagView
		h.Call(http.StatusCreated, "POST", "/api/v1/admin/flags", admin, map[string]any{
			"key": "new_inbox", "description": "The new inbox", "enabled": true, "roles": []string{"DEVELOPER"},
		}).Data(t, &f)
		if f.Key != "new_inbox" || f.CreatedBy == "" || f.Percentage != nil || f.UserIDs == nil || f.OrganizationIDs == nil {
			t.Fatalf("created %+v", f)
		}
		expect("role DEVELOPER", map[string]bool{"dev": true})

		patch := func(body map[string]any) flagView {
			t.Helper()
			var out flagView
			h.Call(http.StatusOK, "PATCH", "/api/v1/admin/flags/new_inbox", admin, body).Data(t, &out)
			return out
		}
		patch(map[string]any{"roles": []string{}, "plans": []string{"PRO"}})
		expect("plan PRO", map[string]bool{"pro": true})
		patch(map[string]any{"userIds": []string{plain.UserID}})
		expect("plan PRO and one user", map[string]bool{"pro": true, "plain": true})
		patch(map[string]any{"plans": []string{}, "userIds": []string{}, "percentage": 0})
		expect("0%", map[string]bool{})
		patch(map[string]any{"percentage": 100})
		expect("100%", map[string]bool{"dev": true, "pro": true, "plain": true})
		if got := patch(map[string]any{"percentage": nil, "enabled": false}); got.Percentage != nil || got.Enabled {
			t.Fatalf("percentage null and disabled: %+v", got)
		}
		expect("disabled", map[string]bool{})
		patch(map[string]any{"enabled": true, "variants": []map[string]any{{"key": "compact", "weight": 50}, {"key": "roomy", "weight": 50}}})
		expect("no targeting", map[string]bool{"dev": true, "pro": true, "plain": true})
		for name, tok := range who {
			first, second := myFlags(t, h, tok).Flags["new_inbox"].Variant, myFlags(t, h, tok).Flags["new_inbox"].Variant
			if (first != "compact" && first != "roomy") || first != second {
				t.Errorf("%s got variant %q then %q", name, first, second)
			}
		}

		var list []flagView
		h.Call(http.StatusOK, "GET", "/api/v1/admin/flags", admin, nil).Items(t, &list)
		var keys []string
		for _, f := range list {
			keys = append(keys, f.Key)
		}
		if want := []string{"new_inbox", "organization_support", "wasm_sandbox", "workflow_builder"}; !sameStrings(keys, want) {
			t.Fatalf("admin list %v, want %v", keys, want)
		}
		h.Call(http.StatusOK, "GET", "/api/v1/admin/flags/new_inbox", admin, nil).Data(t, &f)
		if len(f.Variants) != 2 {
			t.Fatalf("variants not stored: %+v", f)
		}
		h.Call(http.StatusOK, "DELETE", "/api/v1/admin/flags/new_inbox", admin, nil)
		h.Call(http.StatusNotFound, "GET", "/api/v1/admin/flags/new_inbox", admin, nil)
		if _, ok := myFlags(t, h, plain.AccessToken).Flags["new_inbox"]; ok {
			t.Fatal("a deleted flag is still evaluated")
		}
	})
}

func TestFlags_BadInputAnswersEnvelopeAndChangesNothing(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		admin := h.Admin().AccessToken
		h.Call(http.StatusCreated, "POST", "/api/v1/admin/flags", admin, map[string]any{"key": "split", "enabled": true,
			"variants": []map[string]any{{"key": "a", "weight": 50}, {"key": "b", "weight": 50}}})
		listBefore := h.Call(http.StatusOK, "GET", "/api/v1/admin/flags", admin, nil).Raw
		versionBefore := myFlags(t, h, admin).Version
		rowsBefore := flagAuditRows(t, h, admin)

		cases := []struct {
			name, method, path string
			body               any
			status             int
			code, field        string
		}{
			{"bad key", "POST", "/api/v1/admin/flags", map[string]any{"key": "Beta-Inbox"}, 400, "VALIDATION_ERROR", "key"},
			{"one-letter key", "POST", "/api/v1/admin/flags", map[string]any{"key": "b"}, 400, "VALIDATION_ERROR", "key"},
			{"percentage 101", "POST", "/api/v1/admin/flags", map[string]any{"key": "p1", "percentage": 101}, 400, "VALIDATION_ERROR", "percentage"},
			{"percentage -1", "POST", "/api/v1/admin/flags", map[string]any{"key": "p1", "percentage": -1}, 400, "VALIDATION_ERROR", "percentage"},
			{"percentage a string", "POST", "/api/v1/admin/flags", map[string]any{"key": "p1", "percentage": "50"}, 400, "VALIDATION_ERROR", "percentage"},
			{"weights sum to 90", "POST", "/api/v1/admin/flags", map[string]any{"key": "v1",
				"variants": []map[string]any{{"key": "a", "weight": 40}, {"key": "b", "weight": 50}}}, 400, "VALIDATION_ERROR", "variants"},
			{"unknown role", "POST", "/api/v1/admin/flags", map[string]any{"key": "r1", "roles": []string{"KING"}}, 400, "VALIDATION_ERROR", "roles[0]"},
			{"unknown plan", "POST", "/api/v1/admin/flags", map[string]any{"key": "r1", "plans": []string{"PRO", "GOLD"}}, 400, "VALIDATION_ERROR", "plans[1]"},
			{"email as user id", "POST", "/api/v1/admin/flags", map[string]any{"key": "r1", "userIds": []string{"a@b.c"}}, 400, "VALIDATION_ERROR", "userIds[0]"},
			{"unknown field", "POST", "/api/v1/admin/flags", map[string]any{"key": "r1", "everyone": true}, 400, "VALIDATION_ERROR", "everyone"},
			{"not JSON", "POST", "/api/v1/admin/flags", "{key:", 400, "VALIDATION_ERROR", ""},
			{"duplicate key", "POST", "/api/v1/admin/flags", map[string]any{"key": "workflow_builder"}, 409, "CONFLICT", ""},
			{"patch nothing", "PATCH", "/api/v1/admin/flags/split", map[string]any{}, 400, "VALIDATION_ERROR", ""},
			{"patch percentage 150", "PATCH", "/api/v1/admin/flags/split", map[string]any{"percentage": 150}, 400, "VALIDATION_ERROR", "percentage"},
			{"patch percentage a bool", "PATCH", "/api/v1/admin/flags/split", map[string]any{"percentage": true}, 400, "VALIDATION_ERROR", "percentage"},
			{"patch weights to 110", "PATCH", "/api/v1/admin/flags/split", map[string]any{
				"variants": []map[string]any{{"key": "a", "weight": 60}, {"key": "b", "weight": 50}}}, 400, "VALIDATION_ERROR", "variants"},
			{"patch the key", "PATCH", "/api/v1/admin/flags/split", map[string]any{"key": "other"}, 400, "VALIDATION_ERROR", "key"},
			{"patch unknown key", "PATCH", "/api/v1/admin/flags/no_such_flag", map[string]any{"enabled": false}, 404, "NOT_FOUND", ""},
			{"get unknown key", "GET", "/api/v1/admin/flags/no_such_flag", nil, 404, "NOT_FOUND", ""},
			{"delete unknown key", "DELETE", "/api/v1/admin/flags/no_such_flag", nil, 404, "NOT_FOUND", ""},
		}
		for _, c := range cases {
			r := h.Do(apptest.Request{Method: c.method, Path: c.path, Token: admin, Body: c.body})
			if r.Status != c.status || r.Code() != c.code {
				t.Errorf("%s: %d %s, want %d %s: %s", c.name, r.Status, r.Code(), c.status, c.code, r.Raw)
				continue
			}
			if c.field != "" && !namesField(r, c.field) {
				t.Errorf("%s: the error does not name field %q: %s", c.name, c.field, r.Raw)
			}
		}

		if after := h.Call(http.StatusOK, "GET", "/api/v1/admin/flags", admin, nil).Raw; string(after) != string(listBefore) {
			t.Errorf("flags changed:\nbefore %s\nafter  %s", listBefore, after)
		}
		if v := myFlags(t, h, admin).Version; v != versionBefore {
			t.Errorf("flag version moved from %d to %d", versionBefore, v)
		}
		if rows := flagAuditRows(t, h, admin); len(rows) != len(rowsBefore) {
			t.Errorf("%d flag audit rows, was %d", len(rows), len(rowsBefore))
		}
	})
}

func TestFlags_OnlyAdminsManageAndEveryoneReads(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		root := h.Admin().AccessToken
		mod := signUpAs(t, h, root, "mod@example.com", "SUPPORT", "ENTERPRISE").AccessToken
		adm := signUpAs(t, h, root, "adm@example.com", "ADMIN", "FREE").AccessToken
		for _, call := range []struct{ method, path string }{
			{"GET", "/api/v1/admin/flags"}, {"POST", "/api/v1/admin/flags"}, {"GET", "/api/v1/admin/flags/workflow_builder"},
			{"PATCH", "/api/v1/admin/flags/workflow_builder"}, {"DELETE", "/api/v1/admin/flags/workflow_builder"},
		} {
			r := h.Do(apptest.Request{Method: call.method, Path: call.path, Token: mod, Body: map[string]any{"enabled": false}})
			if r.Status != http.StatusForbidden || r.Code() != "FORBIDDEN" {
				t.Errorf("SUPPORT %s %s: %d %s", call.method, call.path, r.Status, r.Raw)
			}
		}
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/flags", "", nil)
		if !myFlags(t, h, mod).Flags["workflow_builder"].Enabled {
			t.Fatal("the seeded workflow_builder is off for a moderator")
		}
		// An ADMIN (not only the SUPER_ADMIN) manages flags.
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/flags/workflow_builder", adm, map[string]any{"enabled": false})
		if myFlags(t, h, mod).Flags["workflow_builder"].Enabled {
			t.Fatal("workflow_builder still on after an ADMIN turned it off")
		}
	})
}

func TestFlags_ChangesAreAuditedWithBeforeAndAfter(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		root := h.Admin()
		h.Call(http.StatusCreated, "POST", "/api/v1/admin/flags", root.AccessToken, map[string]any{"key": "dark_mode", "enabled": true})
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/flags/dark_mode", root.AccessToken, map[string]any{"percentage": 30})
		h.Call(http.StatusOK, "DELETE", "/api/v1/admin/flags/dark_mode", root.AccessToken, nil)

		rows := flagAuditRows(t, h, root.AccessToken)
		if len(rows) != 3 {
			t.Fatalf("%d flag audit rows, want 3: %+v", len(rows), rows)
		}
		byAction := map[string]auditRow{}
		for _, r := range rows {
			if r.UserID != root.UserID || r.ResourceID != "dark_mode" {
				t.Errorf("row %+v", r)
			}
			byAction[r.Action] = r
		}
		created, updated, deleted := byAction["flag.created"].Metadata, byAction["flag.updated"].Metadata, byAction["flag.deleted"].Metadata
		if created.Before != nil || created.After == nil || !created.After.Enabled {
			t.Errorf("flag.created: %+v", created)
		}
		if updated.Before == nil || updated.Before.Percentage != nil || updated.After == nil || updated.After.Percentage == nil ||
			*updated.After.Percentage != 30 || !sameStrings(updated.Changed, []string{"percentage"}) {
			t.Errorf("flag.updated: %+v", updated)
		}
		if deleted.Before == nil || deleted.Before.Key != "dark_mode" || deleted.After != nil {
			t.Errorf("flag.deleted: %+v", deleted)
		}
		var v struct{ OK bool }
		h.Call(http.StatusOK, "GET", "/api/v1/admin/audit/verify", root.AccessToken, nil).Data(t, &v)
		if !v.OK {
			t.Fatal("audit chain broken")
		}
	})
}

// TestFlags_ChangeOnOneNodeReachesAnotherWithinASecond runs two nodes on one
// database (the same SQLite file, or PostgreSQL) and changes flags through
// node A while polling node B.
func TestFlags_ChangeOnOneNodeReachesAnotherWithinASecond(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		a := apptest.Start(t, url)
		b := apptest.Start(t, url)
		adminA := a.Admin().AccessToken
		user := a.SignUp("someone@example.com", pw)
		// Each node signs its own tokens; the session row is shared.
		tokenB := b.Login(user.Email, pw).AccessToken

		awaitOnB := func(what string, ok func(evaluated) bool) {
			t.Helper()
			deadline := time.Now().Add(raceSlowdown * time.Second)
			for {
				e := myFlags(t, b, tokenB)
				if ok(e) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("node B did not see %s within 1 s: %+v", what, e)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		if !myFlags(t, b, tokenB).Flags["workflow_builder"].Enabled {
			t.Fatal("workflow_builder off on node B before any change")
		}

		a.Call(http.StatusOK, "PATCH", "/api/v1/admin/flags/workflow_builder", adminA, map[string]any{"enabled": false})
		awaitOnB("workflow_builder turned off", func(e evaluated) bool { return !e.Flags["workflow_builder"].Enabled })

		a.Call(http.StatusCreated, "POST", "/api/v1/admin/flags", adminA, map[string]any{"key": "just_for_you", "enabled": true,
			"userIds": []string{user.UserID}})
		awaitOnB("a new flag targeting the user", func(e evaluated) bool { return e.Flags["just_for_you"].Enabled })

		a.Call(http.StatusOK, "DELETE", "/api/v1/admin/flags/just_for_you", adminA, nil)
		awaitOnB("the flag deleted", func(e evaluated) bool { _, ok := e.Flags["just_for_you"]; return !ok })

		if va, vb := myFlags(t, a, adminA).Version, myFlags(t, b, tokenB).Version; va != vb {
			t.Fatalf("nodes settled on versions %d and %d", va, vb)
		}
	})
}

type auditRow struct {
	UserID     string `json:"userId"`
	Action     string `json:"action"`
	ResourceID string `json:"resourceId"`
	Metadata   struct {
		Before  *flagView `json:"before"`
		After   *flagView `json:"after"`
		Changed []string  `json:"changed"`
	} `json:"metadata"`
}

func flagAuditRows(t *testing.T, h *apptest.Harness, admin string) []auditRow {
	t.Helper()
	var page struct{ Items []auditRow }
	h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?resource=feature_flag&limit=200", admin, nil).Data(t, &page)
	return page.Items
}

// namesField reports whether a VALIDATION_ERROR's details name field.
func namesField(r *apptest.Response, field string) bool {
	var d struct {
		Fields []struct{ Field string } `json:"fields"`
	}
	if r.Body.Error == nil || json.Unmarshal(r.Body.Error.Details, &d) != nil {
		return false
	}
	for _, f := range d.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
