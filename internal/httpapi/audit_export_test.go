package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func TestAuditExport_CSVAndNDJSONPageThroughEveryRow(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		ctx := context.Background()
		alice := h.SignUp("alice@example.com", pw)
		bob := h.SignUp("bob@example.com", pw)
		o := createOrg(t, h, alice, "Acme")
		// More rows than one page of the export, one of them a would-be formula.
		const n = 450
		if err := h.App.DB.Tx(ctx, func(tx *db.Tx) error {
			for i := 0; i < n; i++ {
				if err := audit.Record(ctx, tx, actor.Actor{UserID: alice.UserID, UserAgent: "=HYPERLINK(\"x\")"},
					audit.Entry{Action: "test.bulk", Resource: "thing", Metadata: map[string]any{"i": i}}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}

		r := h.Call(http.StatusOK, "GET", "/api/v1/audit/export?format=csv&action=test.bulk", alice.AccessToken, nil)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Fatalf("content type %q", ct)
		}
		if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
			t.Fatalf("content disposition %q", cd)
		}
		recs, err := csv.NewReader(bytes.NewReader(r.Raw)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != n+1 || recs[0][0] != "id" {
			t.Fatalf("csv: %d records, want header and %d", len(recs), n)
		}
		seen := map[string]bool{}
		for _, rec := range recs[1:] {
			if seen[rec[0]] {
				t.Fatalf("row %s exported twice", rec[0])
			}
			seen[rec[0]] = true
			if rec[3] != alice.UserID || rec[6] != "test.bulk" {
				t.Fatalf("foreign or unfiltered row: %v", rec)
			}
			if !strings.HasPrefix(rec[11], "'=") {
				t.Fatalf("formula not defused: %q", rec[11])
			}
		}

		// NDJSON: one row a line, the list's shape; bob sees none of alice's.
		r = h.Call(http.StatusOK, "GET", "/api/v1/audit/export?format=ndjson", alice.AccessToken, nil)
		if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Fatalf("content type %q", ct)
		}
		lines := 0
		sc := bufio.NewScanner(bytes.NewReader(r.Raw))
		for sc.Scan() {
			var row struct {
				ID, UserID, Action string
				Metadata           map[string]any
			}
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil || row.UserID != alice.UserID {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			lines++
		}
		if lines <= n {
			t.Fatalf("ndjson: %d lines, want more than %d", lines, n)
		}
		r = h.Call(http.StatusOK, "GET", "/api/v1/audit/export?format=ndjson&action=test.bulk", bob.AccessToken, nil)
		if len(bytes.TrimSpace(r.Raw)) != 0 {
			t.Fatalf("bob exported alice's rows: %.200s", r.Raw)
		}

		// The organization's export is for its owners and admins; the admin's covers everyone.
		r = h.Call(http.StatusOK, "GET", "/api/v1/orgs/"+o.ID+"/audit/export?format=ndjson", alice.AccessToken, nil)
		if !bytes.Contains(r.Raw, []byte(`"org.created"`)) || bytes.Contains(r.Raw, []byte("test.bulk")) {
			t.Fatalf("org export: %.300s", r.Raw)
		}
		h.Call(http.StatusNotFound, "GET", "/api/v1/orgs/"+o.ID+"/audit/export", bob.AccessToken, nil)
		h.Call(http.StatusForbidden, "GET", "/api/v1/admin/audit/export", bob.AccessToken, nil)
		r = h.Call(http.StatusOK, "GET", "/api/v1/admin/audit/export?userId="+alice.UserID+"&action=test.bulk", h.Admin().AccessToken, nil)
		if recs, err := csv.NewReader(bytes.NewReader(r.Raw)).ReadAll(); err != nil || len(recs) != n+1 {
			t.Fatalf("admin export: %d records, %v", len(recs), err)
		}

		// Bad input gets the JSON error envelope, not a half-written file.
		if r := h.Call(http.StatusBadRequest, "GET", "/api/v1/audit/export?format=xlsx", alice.AccessToken, nil); r.Code() != "VALIDATION_ERROR" {
			t.Fatalf("bad format: %s", r.Raw)
		}
		h.Call(http.StatusBadRequest, "GET", "/api/v1/audit/export?status=maybe", alice.AccessToken, nil)
	})
}
