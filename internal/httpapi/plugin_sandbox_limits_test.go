package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
)

// A submission whose tables could take host memory outside the plan's
// ramMb is refused with the table named; an accepted submission is not
// kept compiled while it waits for review.
func TestSubmit_RefusesModulesBeyondTheSandboxsMemory(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		dev := developer(t, h, "dev@example.com")
		submit := func(slug string, mod []byte) *apptest.Response {
			return h.Do(apptest.Request{Method: "POST", Path: "/api/v1/marketplace/submissions", Token: dev.AccessToken, Body: map[string]any{
				"manifest": map[string]any{"slug": slug, "name": slug, "version": "1.0.0"},
				"wasm":     base64.StdEncoding.EncodeToString(mod),
			}})
		}
		for _, tc := range []struct {
			name string
			mod  []byte
			want string
		}{
			{"table-bomb", wasmtest.TableFill(wasmtest.Limits{Min: 134217728, NoMax: true}), "declares tables of 134217728 elements"},
			{"table-max", wasmtest.TableFill(wasmtest.Limits{Min: 1, Max: 1 << 24}), "table 0 may grow to 16777216 elements"},
			{"memory-max", wasmtest.Module(nil, wasmtest.Limits{Min: 1, Max: 70000}, 0, nil), "above the 4096 MiB of the largest plan"},
		} {
			r := submit(tc.name, tc.mod)
			if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" || !strings.Contains(string(r.Raw), tc.want) {
				t.Errorf("%s: want 400 naming %q, got %d %s", tc.name, tc.want, r.Status, r.Raw)
			}
		}
		if r := submit("pending-one", wasmtest.MemoryGrow(false, false)); r.Status != http.StatusCreated {
			t.Fatalf("a bounded module was refused: %d %s", r.Status, r.Raw)
		}
		if n, size := h.App.Wasm.CacheStats(); n != 0 {
			t.Fatalf("a pending submission is kept compiled: %d modules, %d bytes", n, size)
		}
	})
}
