package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func record(t *testing.T, d *db.DB, a actor.Actor, e audit.Entry) {
	t.Helper()
	if err := d.Tx(context.Background(), func(tx *db.Tx) error {
		return audit.Record(context.Background(), tx, a, e)
	}); err != nil {
		t.Fatalf("record: %v", err)
	}
}

func TestVerify_DetectsEditedDeletedAndTruncatedRows(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		a := actor.Actor{UserID: "usr_1", IP: "10.0.0.1", UserAgent: "ua", RequestID: "req"}
		for i := 0; i < 5; i++ {
			record(t, d, a, audit.Entry{Action: "test.event", Resource: "thing", ResourceID: "t", Metadata: map[string]any{"i": i}})
		}
		res, err := audit.Verify(ctx, d.Read(), nil)
		if err != nil || !res.OK || res.Checked != 5 {
			t.Fatalf("intact chain: %+v %v", res, err)
		}

		// An edit to row 3 is named.
		if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_logs SET action = 'forged' WHERE seq = 3`); err != nil {
			t.Fatal(err)
		}
		res, _ = audit.Verify(ctx, d.Read(), nil)
		if res.OK || res.BadSeq != 3 {
			t.Fatalf("edited row: got %+v, want BadSeq 3", res)
		}
		if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_logs SET action = 'test.event' WHERE seq = 3`); err != nil {
			t.Fatal(err)
		}

		// A deleted middle row is named.
		if _, err := d.SQL().ExecContext(ctx, `DELETE FROM audit_logs WHERE seq = 2`); err != nil {
			t.Fatal(err)
		}
		res, _ = audit.Verify(ctx, d.Read(), nil)
		if res.OK || res.BadSeq != 3 || !strings.Contains(res.Reason, "missing") {
			t.Fatalf("deleted row: got %+v", res)
		}
	})
}

func TestVerify_DetectsTruncatedTail(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		for i := 0; i < 3; i++ {
			record(t, d, actor.Actor{UserID: "usr_1"}, audit.Entry{Action: "x", Resource: "y"})
		}
		if _, err := d.SQL().ExecContext(ctx, `DELETE FROM audit_logs WHERE seq = 3`); err != nil {
			t.Fatal(err)
		}
		res, _ := audit.Verify(ctx, d.Read(), nil)
		if res.OK || res.BadSeq != 3 {
			t.Fatalf("truncated tail: got %+v", res)
		}
	})
}

func TestRecord_ChainsUnderConcurrency(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		const n = 40
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			go func() {
				errs <- d.Tx(context.Background(), func(tx *db.Tx) error {
					return audit.Record(context.Background(), tx, actor.Actor{UserID: "usr_1"}, audit.Entry{Action: "x", Resource: "y"})
				})
			}()
		}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		res, err := audit.Verify(context.Background(), d.Read(), nil)
		if err != nil || !res.OK || res.Checked != n {
			t.Fatalf("concurrent chain: %+v %v", res, err)
		}
	})
}

// On PostgreSQL the chain head hashes each row in SQL; the hashes must be
// the ones Verify recomputes in Go, for any content and at any position
// (chain positions of one, two and three digits).
func TestRecord_HashesAnyContentAsVerifyDoes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		a := actor.Actor{UserID: "usr_1", OrganizationID: "org_1", ImpersonatorID: "usr_admin",
			IP: "10.0.0.1\xff", UserAgent: "agent\x00ü", RequestID: "req-日本"}
		for i := 0; i < 101; i++ {
			record(t, d, a, audit.Entry{Action: "test.event", Resource: "thing", ResourceID: fmt.Sprintf("é-%d", i),
				Metadata: map[string]any{"i": i, "text": "naïve 日本語 🎉 \"quoted\" \\ \n", "nested": map[string]any{"n": -1.5}}})
		}
		record(t, d, actor.Actor{UserID: "usr_2"}, audit.Entry{Action: "other", Resource: "thing"})
		res, err := audit.Verify(context.Background(), d.Read(), nil)
		if err != nil || !res.OK || res.Checked != 102 || res.Chains != 2 {
			t.Fatalf("verify: %+v %v", res, err)
		}
	})
}

func TestRecord_RedactsSecretsAtAnyDepth(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		record(t, d, actor.Actor{UserID: "usr_1"}, audit.Entry{Action: "x", Resource: "y", Metadata: map[string]any{
			"password":     "hunter2hunter2",
			"refreshToken": "rt-secret",
			"nested":       map[string]any{"api_key": "sk-secret", "ok": "visible"},
			"list":         []any{map[string]any{"clientSecret": "cs-secret"}},
		}})
		page, err := audit.List(context.Background(), d.Read(), audit.Filter{UserID: "usr_1"})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("list: %v %v", page, err)
		}
		raw := string(page.Items[0].Metadata)
		for _, secret := range []string{"hunter2hunter2", "rt-secret", "sk-secret", "cs-secret"} {
			if strings.Contains(raw, secret) {
				t.Errorf("metadata holds %q: %s", secret, raw)
			}
		}
		var m map[string]any
		if err := json.Unmarshal(page.Items[0].Metadata, &m); err != nil {
			t.Fatal(err)
		}
		if m["nested"].(map[string]any)["ok"] != "visible" {
			t.Errorf("non-secret value lost: %s", raw)
		}
	})
}

func TestList_PaginatesNewestFirstWithFilters(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		for i := 0; i < 7; i++ {
			record(t, d, actor.Actor{UserID: "usr_a"}, audit.Entry{Action: "a", Resource: "r"})
			record(t, d, actor.Actor{UserID: "usr_b"}, audit.Entry{Action: "b", Resource: "r", Status: audit.Failure})
		}
		var seen []int64
		cursor := ""
		for {
			p, err := audit.List(context.Background(), d.Read(), audit.Filter{UserID: "usr_a", Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Items {
				if r.UserID != "usr_a" {
					t.Fatalf("filter leaked %s", r.UserID)
				}
				seen = append(seen, r.Seq)
			}
			if p.NextCursor == nil {
				break
			}
			cursor = *p.NextCursor
		}
		if len(seen) != 7 {
			t.Fatalf("got %d rows, want 7", len(seen))
		}
		for i := 1; i < len(seen); i++ {
			if seen[i] >= seen[i-1] {
				t.Fatalf("not newest first: %v", seen)
			}
		}
		p, err := audit.List(context.Background(), d.Read(), audit.Filter{Status: audit.Failure})
		if err != nil || len(p.Items) != 7 {
			t.Fatalf("status filter: %d %v", len(p.Items), err)
		}
		if _, err := audit.List(context.Background(), d.Read(), audit.Filter{Cursor: "!!"}); err == nil {
			t.Fatal("garbage cursor accepted")
		}
	})
}
