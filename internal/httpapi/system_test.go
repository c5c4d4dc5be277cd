package httpapi_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type systemView struct {
	Database string `json:"database"`
	APINodes []struct {
		ID    string `json:"id"`
		Alive bool   `json:"alive"`
	} `json:"apiNodes"`
	JobNodes []struct {
		ID    string `json:"id"`
		Alive bool   `json:"alive"`
	} `json:"jobNodes"`
	Queues []struct {
		Name      string `json:"name"`
		Completed int64  `json:"completed"`
		Discarded int64  `json:"discarded"`
	} `json:"queues"`
	FailedJobs []struct {
		ID          int64     `json:"id"`
		Kind        string    `json:"kind"`
		State       string    `json:"state"`
		Error       string    `json:"error"`
		Attempts    int       `json:"attempts"`
		MaxAttempts int       `json:"maxAttempts"`
		FailedAt    time.Time `json:"failedAt"`
	} `json:"failedJobs"`
}

// The system view shows the live API node, the queues' depth by state and a
// failed job's kind, error and attempts, never its args; SUPPORT reads it,
// a MEMBER does not.
func TestAdminSystem_NodesQueuesAndFailedJobs(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		admin := h.Admin().AccessToken
		member := h.SignUp("member@example.com", pw)
		support := signUpAs(t, h, admin, "support@example.com", "SUPPORT", "FREE")
		h.Call(http.StatusForbidden, "GET", "/api/v1/admin/system", member.AccessToken, nil)

		// A mail job runs to completion; then it is made a failure as a
		// worker would leave it.
		h.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": "member@example.com"})
		h.WaitMail("member@example.com", 1)
		ctx := context.Background()
		var id int64
		var kind string
		for deadline := time.Now().Add(10 * time.Second); ; {
			err := h.App.DB.SQL().QueryRowContext(ctx, `SELECT id, kind FROM river_job WHERE state = 'completed' ORDER BY id DESC LIMIT 1`).Scan(&id, &kind)
			if err == nil {
				break
			}
			if !errors.Is(err, sql.ErrNoRows) || time.Now().After(deadline) {
				t.Fatalf("no completed job: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		const attemptErr = `{"at":"2026-01-01T00:00:00Z","attempt":3,"error":"smtp: 554 rejected","trace":"goroutine 1"}`
		errs := `'[` + attemptErr + `]'`
		if h.App.DB.Dialect == db.Postgres {
			errs = `ARRAY['` + attemptErr + `'::jsonb]`
		}
		if _, err := h.App.DB.SQL().ExecContext(ctx, `UPDATE river_job SET state = 'discarded', attempt = 3, max_attempts = 3,
			errors = `+errs+` WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}

		var v systemView
		r := h.Call(http.StatusOK, "GET", "/api/v1/admin/system", support.AccessToken, nil)
		r.Data(t, &v)
		alive := false
		for _, n := range v.APINodes {
			alive = alive || n.Alive
		}
		if !alive {
			t.Errorf("no live API node: %+v", v.APINodes)
		}
		if v.Database != string(h.App.DB.Dialect) {
			t.Errorf("database: %q, want %q", v.Database, h.App.DB.Dialect)
		}
		discarded := int64(0)
		for _, q := range v.Queues {
			discarded += q.Discarded
		}
		if discarded != 1 {
			t.Errorf("queues: %+v", v.Queues)
		}
		if len(v.FailedJobs) != 1 {
			t.Fatalf("failed jobs: %+v", v.FailedJobs)
		}
		f := v.FailedJobs[0]
		if f.ID != id || f.Kind != kind || f.State != "discarded" || f.Error != "smtp: 554 rejected" || f.Attempts != 3 || f.MaxAttempts != 3 || f.FailedAt.IsZero() {
			t.Errorf("failed job: %+v", f)
		}
		if strings.Contains(string(r.Raw), `"args"`) || strings.Contains(string(r.Raw), "goroutine") {
			t.Errorf("the system view shows args or traces: %s", r.Raw)
		}
	})
}
