package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
)

// okModule is the smallest WASI command: it exits at once with no output.
var okModule = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01,
	0x07, 0x13, 0x02, 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00,
	0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b}

func gzipB64(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// developer signs up a user and makes them a DEVELOPER.
func developer(t *testing.T, h *apptest.Harness, email string) apptest.Session {
	t.Helper()
	s := h.SignUp(email, "correct horse battery")
	h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+s.UserID, h.Admin().AccessToken, map[string]string{"role": "DEVELOPER"})
	return h.Login(email, "correct horse battery")
}

// setWasm turns the wasm_sandbox flag (seeded enabled) on or off and waits
// for the node's flag cache to follow.
func setWasm(t *testing.T, h *apptest.Harness, enabled bool) {
	t.Helper()
	h.Call(http.StatusOK, "PATCH", "/api/v1/admin/flags/wasm_sandbox", h.Admin().AccessToken, map[string]any{"enabled": enabled})
	deadline := time.Now().Add(3 * time.Second)
	for h.App.Flags.IsEnabled(apptestActor(), "wasm_sandbox") != enabled {
		if time.Now().After(deadline) {
			t.Fatal("wasm_sandbox flag change never took effect")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type version struct {
	ID, Status, Version, ReviewReason string
	WasmSHA256                        string
}

type execution struct {
	ID, Status, Error string
	Output            json.RawMessage
	Logs              []struct{ Message string }
	Metrics           struct{ DurationMs, APICalls int64 }
}

func submitRaw(t *testing.T, h *apptest.Harness, dev apptest.Session, slug, ver string) version {
	t.Helper()
	var v version
	h.Call(http.StatusCreated, "POST", "/api/v1/marketplace/submissions", dev.AccessToken, map[string]any{
		"manifest": map[string]any{"slug": slug, "name": slug, "version": ver},
		"wasm":     base64.StdEncoding.EncodeToString(okModule),
	}).Data(t, &v)
	return v
}

func TestPlugins_SubmitReviewInstallExecute(t *testing.T) {
	t.Parallel()
	mod := wasmtest.Build(t, "./examples/plugins/textstats")
	manifestRaw, err := os.ReadFile(filepath.Join(wasmtest.Root(), "examples/plugins/textstats/manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url) // submissions are an upload route: up to 16 MiB, other routes 1 MiB
		admin := h.Admin()
		dev := developer(t, h, "dev@example.com")
		user := h.SignUp("user@example.com", "correct horse battery")
		sub := map[string]any{"manifest": json.RawMessage(manifestRaw), "wasm": gzipB64(t, mod)}

		// Only developers submit; bad manifests are named field by field.
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/marketplace/submissions", Token: user.AccessToken, Body: sub}); r.Status != http.StatusForbidden {
			t.Fatalf("MEMBER submitted: %d %s", r.Status, r.Raw)
		}
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/marketplace/submissions", Token: dev.AccessToken,
			Body: map[string]any{"manifest": map[string]any{"slug": "Bad Slug", "name": "x", "version": "one"}, "wasm": "AAAA"}}); r.Status != http.StatusBadRequest ||
			!strings.Contains(string(r.Raw), "manifest.slug") || !strings.Contains(string(r.Raw), "manifest.version") {
			t.Fatalf("bad manifest: %d %s", r.Status, r.Raw)
		}
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/marketplace/submissions", Token: dev.AccessToken,
			Body: map[string]any{"manifest": map[string]any{"slug": "template", "name": "x", "version": "1.0.0"}, "wasm": gzipB64(t, okModule)}}); r.Status != http.StatusConflict {
			t.Fatalf("shadowing a built-in: %d %s", r.Status, r.Raw)
		}
		var v1 version
		h.Call(http.StatusCreated, "POST", "/api/v1/marketplace/submissions", dev.AccessToken, sub).Data(t, &v1)
		if v1.Status != "PENDING" {
			t.Fatalf("new version is %s", v1.Status)
		}

		// A pending version cannot be installed.
		install := map[string]any{"plugin": "textstats", "version": "1.0.0", "grants": []string{"kv", "log"},
			"config": map[string]any{"keepTotals": true, "logEachRun": true}}
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/installations", Token: user.AccessToken, Body: install}); r.Status != http.StatusConflict {
			t.Fatalf("installed a pending version: %d %s", r.Status, r.Raw)
		}
		// Review: a reason is required to reject; users cannot review.
		h.Call(http.StatusForbidden, "POST", "/api/v1/admin/marketplace/versions/"+v1.ID+"/approve", user.AccessToken, nil)
		h.Call(http.StatusBadRequest, "POST", "/api/v1/admin/marketplace/versions/"+v1.ID+"/reject", admin.AccessToken, map[string]string{})
		var queue []version
		h.Call(http.StatusOK, "GET", "/api/v1/admin/marketplace/versions", admin.AccessToken, nil).Items(t, &queue)
		if len(queue) != 1 || queue[0].ID != v1.ID {
			t.Fatalf("review queue %+v", queue)
		}
		h.Call(http.StatusOK, "POST", "/api/v1/admin/marketplace/versions/"+v1.ID+"/approve", admin.AccessToken, nil)
		h.Call(http.StatusConflict, "POST", "/api/v1/admin/marketplace/versions/"+v1.ID+"/reject", admin.AccessToken, map[string]string{"reason": "late"})

		var catalog []struct {
			Slug, Kind string
			Featured   bool
		}
		h.Call(http.StatusOK, "GET", "/api/v1/plugins", user.AccessToken, nil).Items(t, &catalog)
		// Built-ins come first (their number grows as more ship); the
		// marketplace plugin follows them.
		nb, hasTemplate := 0, false
		for nb < len(catalog) && catalog[nb].Kind == "builtin" {
			hasTemplate = hasTemplate || catalog[nb].Slug == "template"
			nb++
		}
		if !hasTemplate || len(catalog) != nb+1 || catalog[nb].Slug != "textstats" || catalog[nb].Kind != "wasm" {
			t.Fatalf("catalog %+v", catalog)
		}

		// Grants beyond the manifest are refused; then install for real.
		bad := map[string]any{"plugin": "textstats", "grants": []string{"http"}}
		h.Call(http.StatusBadRequest, "POST", "/api/v1/installations", user.AccessToken, bad)
		var inst struct{ ID, Version string }
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", user.AccessToken, install).Data(t, &inst)

		// Synchronous execution: result, logs and metrics.
		var e execution
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst.ID+"/execute", user.AccessToken,
			map[string]any{"input": map[string]string{"text": "to be or not to be"}}).Data(t, &e)
		if e.Status != "SUCCEEDED" || !strings.Contains(string(e.Output), `"words":6`) || !strings.Contains(string(e.Output), `"totalWords":6`) ||
			len(e.Logs) != 1 || e.Metrics.APICalls != 2 {
			t.Fatalf("sync execution %+v output %s", e, e.Output)
		}
		// The approved module's machine code is in the data dir's cache.
		cached := filepath.Join(h.App.Config.DataDir, "wasm-cache", v1.WasmSHA256)
		if _, err := os.Stat(cached); err != nil {
			t.Fatalf("approved module not in the compilation cache: %v", err)
		}
		// Input that breaks the plugin's schema is a 400 before any run.
		h.Call(http.StatusBadRequest, "POST", "/api/v1/installations/"+inst.ID+"/execute", user.AccessToken, map[string]any{"input": map[string]int{"text": 1}})

		// Asynchronous execution through the plugin.execute job.
		var q execution
		h.Call(http.StatusAccepted, "POST", "/api/v1/installations/"+inst.ID+"/execute", user.AccessToken,
			map[string]any{"input": map[string]string{"text": "again"}, "async": true, "idempotencyKey": "k1"}).Data(t, &q)
		if q.Status != "QUEUED" {
			t.Fatalf("async execution %+v", q)
		}
		done := waitExecution(t, h, user.AccessToken, inst.ID, q.ID)
		if done.Status != "SUCCEEDED" || !strings.Contains(string(done.Output), `"totalWords":7`) {
			t.Fatalf("async result %+v %s", done, done.Output)
		}
		// The same idempotency key answers with the first answer (202, the
		// queued execution).
		var again execution
		h.Call(http.StatusAccepted, "POST", "/api/v1/installations/"+inst.ID+"/execute", user.AccessToken,
			map[string]any{"input": map[string]string{"text": "again"}, "async": true, "idempotencyKey": "k1"}).Data(t, &again)
		if again.ID != q.ID {
			t.Fatalf("idempotent replay made a new execution %s", again.ID)
		}
		var hist struct{ Items []execution }
		h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst.ID+"/executions", user.AccessToken, nil).Data(t, &hist)
		if len(hist.Items) != 2 || hist.Items[0].ID != q.ID {
			t.Fatalf("history %+v", hist.Items)
		}

		// Revoking the kv grant makes the plugin fail with the reason.
		h.Call(http.StatusOK, "PATCH", "/api/v1/installations/"+inst.ID, user.AccessToken, map[string]any{"grants": []string{"log"}})
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst.ID+"/execute", user.AccessToken,
			map[string]any{"input": map[string]string{"text": "x"}}).Data(t, &e)
		if e.Status != "FAILED" || !strings.Contains(e.Error, `needs permission "kv"`) {
			t.Fatalf("ungranted run %+v", e)
		}

		// A new version, approved; the install upgrades; the old one is
		// yanked and can no longer be newly installed.
		m2 := strings.Replace(string(manifestRaw), `"version": "1.0.0"`, `"version": "1.1.0"`, 1)
		var v2 version
		h.Call(http.StatusCreated, "POST", "/api/v1/marketplace/submissions", dev.AccessToken,
			map[string]any{"manifest": json.RawMessage(m2), "wasm": gzipB64(t, mod)}).Data(t, &v2)
		h.Call(http.StatusConflict, "POST", "/api/v1/marketplace/submissions", dev.AccessToken,
			map[string]any{"manifest": json.RawMessage(m2), "wasm": gzipB64(t, mod)})
		h.Call(http.StatusOK, "POST", "/api/v1/admin/marketplace/versions/"+v2.ID+"/approve", admin.AccessToken, nil)
		h.Call(http.StatusOK, "PATCH", "/api/v1/installations/"+inst.ID, user.AccessToken, map[string]any{"version": "1.1.0", "grants": []string{"kv", "log"}}).Data(t, &inst)
		if inst.Version != "1.1.0" {
			t.Fatalf("upgrade left version %s", inst.Version)
		}
		h.Call(http.StatusOK, "POST", "/api/v1/marketplace/versions/"+v1.ID+"/yank", dev.AccessToken, map[string]string{"reason": "counts apostrophes wrong"})
		// v2 is the same module, approved: the yank leaves its code cached.
		if _, err := os.Stat(cached); err != nil {
			t.Fatalf("yanking v1 removed the code v2 (approved) runs: %v", err)
		}
		// Another node yanks v2 too: this node's sweep removes the module's
		// code from its disk, and the installation still running v2 is
		// compiled in memory from then on, never written to disk again.
		if _, err := h.App.DB.SQL().ExecContext(context.Background(),
			`UPDATE marketplace_versions SET status = 'YANKED' WHERE id = $1`, v2.ID); err != nil {
			t.Fatal(err)
		}
		if n, err := h.App.Market.PruneEngineCache(context.Background()); err != nil || n != 1 {
			t.Fatalf("sweep after a yank elsewhere: removed %d, %v", n, err)
		}
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst.ID+"/execute", user.AccessToken,
			map[string]any{"input": map[string]string{"text": "still runs"}}).Data(t, &e)
		if e.Status != "SUCCEEDED" {
			t.Fatalf("the yanked version's installation: %+v", e)
		}
		if _, err := os.Stat(cached); !os.IsNotExist(err) {
			t.Fatalf("a yanked module's code is on disk after the sweep: %v", err)
		}
		if _, err := h.App.DB.SQL().ExecContext(context.Background(),
			`UPDATE marketplace_versions SET status = 'APPROVED' WHERE id = $1`, v2.ID); err != nil {
			t.Fatal(err)
		}
		other := h.SignUp("other@example.com", "correct horse battery")
		h.Call(http.StatusConflict, "POST", "/api/v1/installations", other.AccessToken, map[string]any{"plugin": "textstats", "version": "1.0.0"})
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", other.AccessToken, map[string]any{"plugin": "textstats"})

		// Featuring is for admins and reorders nothing else.
		h.Call(http.StatusForbidden, "PUT", "/api/v1/admin/marketplace/plugins/textstats/featured", dev.AccessToken, map[string]bool{"featured": true})
		h.Call(http.StatusOK, "PUT", "/api/v1/admin/marketplace/plugins/textstats/featured", admin.AccessToken, map[string]bool{"featured": true})
		h.Call(http.StatusOK, "GET", "/api/v1/plugins", user.AccessToken, nil).Items(t, &catalog)
		if !catalog[len(catalog)-1].Featured || catalog[len(catalog)-1].Slug != "textstats" {
			t.Fatalf("not featured: %+v", catalog)
		}

		// Everything above is in the audit log.
		for _, action := range []string{"marketplace.version.submitted", "marketplace.version.approved", "marketplace.version.yanked",
			"marketplace.plugin.featured", "plugin.installed", "plugin.upgraded", "plugin.configured"} {
			var page struct{ Items []any }
			h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?action="+action, admin.AccessToken, nil).Data(t, &page)
			if len(page.Items) == 0 {
				t.Errorf("no audit row %s", action)
			}
		}
	})
}

func waitExecution(t *testing.T, h *apptest.Harness, token, inst, id string) execution {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var e execution
		h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst+"/executions/"+id, token, nil).Data(t, &e)
		if e.Status == "SUCCEEDED" || e.Status == "FAILED" {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s still %s", id, e.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInstallations_BuiltinConfigFlagAndPlanLimit(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		admin := h.Admin()
		dev := developer(t, h, "dev@example.com")
		user := h.SignUp("user@example.com", "correct horse battery")

		// The built-in template: config validated against its schema.
		h.Call(http.StatusBadRequest, "POST", "/api/v1/installations", user.AccessToken,
			map[string]any{"plugin": "template", "config": map[string]any{"template": 7}})
		h.Call(http.StatusBadRequest, "POST", "/api/v1/installations", user.AccessToken,
			map[string]any{"plugin": "template", "config": map[string]any{"template": "{{.name"}})
		h.Call(http.StatusNotFound, "POST", "/api/v1/installations", user.AccessToken, map[string]any{"plugin": "nope"})
		var inst struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", user.AccessToken,
			map[string]any{"plugin": "template", "config": map[string]any{"template": "Hello, {{.name}}!"}}).Data(t, &inst)
		h.Call(http.StatusConflict, "POST", "/api/v1/installations", user.AccessToken, map[string]any{"plugin": "template"})
		var e execution
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst.ID+"/execute", user.AccessToken,
			map[string]any{"input": map[string]any{"data": map[string]string{"name": "Ann"}}}).Data(t, &e)
		if e.Status != "SUCCEEDED" || string(e.Output) != `{"text":"Hello, Ann!"}` {
			t.Fatalf("template run %+v %s", e, e.Output)
		}
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst.ID+"/disable", user.AccessToken, nil)
		h.Call(http.StatusConflict, "POST", "/api/v1/installations/"+inst.ID+"/execute", user.AccessToken, nil)
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst.ID+"/enable", user.AccessToken, nil)

		// Three tiny marketplace plugins; FREE allows three installations.
		for i := 1; i <= 3; i++ {
			v := submitRaw(t, h, dev, fmt.Sprintf("tiny-%d", i), "1.0.0")
			h.Call(http.StatusOK, "POST", "/api/v1/admin/marketplace/versions/"+v.ID+"/approve", admin.AccessToken, nil)
		}
		// Without the wasm_sandbox flag, marketplace installs do not exist.
		setWasm(t, h, false)
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/installations", Token: user.AccessToken, Body: map[string]any{"plugin": "tiny-1"}}); r.Status != http.StatusNotFound ||
			!strings.Contains(string(r.Raw), "wasm_sandbox") {
			t.Fatalf("ungated wasm install: %d %s", r.Status, r.Raw)
		}
		setWasm(t, h, true)
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", user.AccessToken, map[string]any{"plugin": "tiny-1"})
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", user.AccessToken, map[string]any{"plugin": "tiny-2"})
		r := h.Call(http.StatusPaymentRequired, "POST", "/api/v1/installations", user.AccessToken, map[string]any{"plugin": "tiny-3"})
		if r.Code() != "PLAN_LIMIT_EXCEEDED" {
			t.Fatalf("limit: %s", r.Raw)
		}
		var usage struct {
			Items []struct {
				Metric string
				Used   *int64
				Limit  int64
			}
		}
		h.Call(http.StatusOK, "GET", "/api/v1/usage", user.AccessToken, nil).Data(t, &usage)
		for _, it := range usage.Items {
			if it.Metric == "plugins" && (it.Used == nil || *it.Used != it.Limit) {
				t.Errorf("usage report for plugins: %+v", it)
			}
		}
		h.Call(http.StatusOK, "DELETE", "/api/v1/installations/"+inst.ID, user.AccessToken, nil)
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", user.AccessToken, map[string]any{"plugin": "tiny-3"})
		var list []struct{ Plugin string }
		h.Call(http.StatusOK, "GET", "/api/v1/installations", user.AccessToken, nil).Items(t, &list)
		if len(list) != 3 {
			t.Fatalf("installations %+v", list)
		}
	})
}

// apptestActor is an untargeted signed-in user, to see a flag as everyone does.
func apptestActor() actor.Actor {
	return actor.Actor{UserID: ids.New(ids.User), Role: actor.Member, Plan: actor.Free}
}
