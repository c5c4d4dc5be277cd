package httpapi_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type chainState struct {
	OK                bool   `json:"ok"`
	Checked           int64  `json:"checked"`
	FirstBrokenID     string `json:"firstBrokenId"`
	VerifiedAt        string `json:"verifiedAt"`
	BadChain          string `json:"badChain"`
	Checkpoints       int64  `json:"checkpoints"`
	SignaturesChecked bool   `json:"signaturesChecked"`
}

func verifyAt(t *testing.T, h *apptest.Harness, path, token string) chainState {
	t.Helper()
	var c chainState
	h.Call(http.StatusOK, "GET", path, token, nil).Data(t, &c)
	if c.VerifiedAt == "" {
		t.Fatalf("%s: no verifiedAt", path)
	}
	return c
}

func TestAuditVerify_OwnAndOrgScopes(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		ctx := context.Background()
		alice := h.SignUp("alice@example.com", pw)
		bob := h.SignUp("bob@example.com", pw)
		o := createOrg(t, h, alice, "Acme")
		h.Call(http.StatusOK, "PATCH", "/api/v1/orgs/"+o.ID, alice.AccessToken, map[string]string{"name": "Acme 2"})
		h.Call(http.StatusOK, "PATCH", "/api/v1/me", bob.AccessToken, map[string]any{"name": "Bobby"})

		own := verifyAt(t, h, "/api/v1/audit/verify", alice.AccessToken)
		if !own.OK || own.Checked < 2 {
			t.Fatalf("alice's intact log: %+v", own)
		}
		org := verifyAt(t, h, "/api/v1/orgs/"+o.ID+"/audit/verify", alice.AccessToken)
		if !org.OK || org.Checked < 2 {
			t.Fatalf("org's intact log: %+v", org)
		}
		// The full walk checks the signed checkpoints with the node's keys.
		keys, err := audit.KeySource{Dir: filepath.Dir(h.MailDir)}.Load()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := audit.Seal(ctx, h.App.DB, keys); err != nil {
			t.Fatal(err)
		}
		if all := verifyAt(t, h, "/api/v1/admin/audit/verify", h.Admin().AccessToken); !all.OK || all.Checkpoints < 3 || !all.SignaturesChecked {
			t.Fatalf("full walk of the intact log: %+v", all)
		}
		// Outsiders cannot verify it (nor learn it exists).
		h.Call(http.StatusNotFound, "GET", "/api/v1/orgs/"+o.ID+"/audit/verify", bob.AccessToken, nil)
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/audit/verify", "", nil)

		// An edit to one of bob's rows breaks bob's log, not alice's.
		var bobRow string
		if err := h.App.DB.SQL().QueryRowContext(ctx,
			`SELECT id FROM audit_logs WHERE user_id = $1 AND organization_id IS NULL ORDER BY seq DESC LIMIT 1`, bob.UserID).Scan(&bobRow); err != nil {
			t.Fatal(err)
		}
		if _, err := h.App.DB.SQL().ExecContext(ctx, `UPDATE audit_logs SET metadata = '{}' WHERE id = $1`, bobRow); err != nil {
			t.Fatal(err)
		}
		if c := verifyAt(t, h, "/api/v1/audit/verify", bob.AccessToken); c.OK || c.FirstBrokenID != bobRow {
			t.Fatalf("bob's edited log: %+v, want first broken %s", c, bobRow)
		}
		if c := verifyAt(t, h, "/api/v1/audit/verify", alice.AccessToken); !c.OK {
			t.Fatalf("alice's log after an edit elsewhere: %+v", c)
		}
		if c := verifyAt(t, h, "/api/v1/orgs/"+o.ID+"/audit/verify", alice.AccessToken); !c.OK {
			t.Fatalf("org log after an edit elsewhere: %+v", c)
		}
		// The full walk (admins) names the same row.
		if c := verifyAt(t, h, "/api/v1/admin/audit/verify", h.Admin().AccessToken); c.OK || c.FirstBrokenID != bobRow || c.BadChain != bob.UserID {
			t.Fatalf("full walk: %+v", c)
		}

		// Removing an org row next to another org row breaks the org's log.
		var seq int64
		var orgRow string
		if err := h.App.DB.SQL().QueryRowContext(ctx,
			`SELECT seq FROM audit_logs WHERE organization_id = $1 ORDER BY seq DESC LIMIT 1`, o.ID).Scan(&seq); err != nil {
			t.Fatal(err)
		}
		if err := h.App.DB.SQL().QueryRowContext(ctx,
			`SELECT id FROM audit_logs WHERE organization_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT 1`, o.ID, seq).Scan(&orgRow); err != nil {
			t.Fatal(err)
		}
		if _, err := h.App.DB.SQL().ExecContext(ctx, `DELETE FROM audit_logs WHERE seq = $1`, seq); err != nil {
			t.Fatal(err)
		}
		if c := verifyAt(t, h, "/api/v1/orgs/"+o.ID+"/audit/verify", alice.AccessToken); c.OK || c.FirstBrokenID == "" {
			t.Fatalf("org log with a removed row: %+v (row before it %s)", c, orgRow)
		}
	})
}
