package bench

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// BenchmarkWorkflowWebhookCounting runs the sync webhook workflow of one
// workspace (BenchmarkWorkflowWebhook's) at 16 and 64 keep-alive clients,
// with executions counted one UPDATE of the workspace's daily counter per
// run ("per-run", as before leasing) and from leased blocks ("leased",
// internal/credit/lease.go), in one process so the four are comparable.
// The workspace is on a plan with a daily limit (BUSINESS, 100,000), so
// every run checks and counts against it.
//
//	SWITCHBOARD_TEST_DATABASE_URL=… go test ./bench/ -run '^$' -bench WorkflowWebhookCounting -benchtime 20000x
func BenchmarkWorkflowWebhookCounting(b *testing.B) {
	for _, e := range dbtest.Engines() {
		for _, counting := range []string{"per-run", "leased"} {
			b.Run(e.Name+"/"+counting, func(b *testing.B) {
				h := apptest.Start(b, e.URL(b), quiet)
				if counting == "per-run" {
					h.App.Limits.SetLeasing(0, credit.LeaseTTL, credit.FlushInterval)
				}
				s := h.SignUp("bench@example.com", "correct horse battery")
				if err := h.App.DB.Tx(context.Background(), func(tx *db.Tx) error {
					_, err := tx.ExecContext(context.Background(), `UPDATE users SET plan = 'BUSINESS'`)
					return err
				}); err != nil {
					b.Fatal(err)
				}
				var wf struct{ HookURL string }
				h.Call(http.StatusCreated, "POST", "/api/v1/workflows", s.AccessToken,
					map[string]any{"name": "bench", "definition": webhookWorkflow("sync")}).Data(b, &wf)
				url := h.URL + wf.HookURL[strings.Index(wf.HookURL, "/hooks/"):]
				body := []byte(`{"id":"ord_1","items":[{"price":40},{"price":75},{"price":12}]}`)
				for _, clients := range []int{16, 64} {
					b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
						loadHook(b, url, body, http.StatusOK, max(1, clients/runtime.GOMAXPROCS(0)))
					})
				}
				checkRecorded(b, h, s.AccessToken, "sync")
			})
		}
	}
}
