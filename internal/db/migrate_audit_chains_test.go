package db_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// legacyHash is the hash the single global chain gave its rows before
// migration 00038, written out here as it was.
func legacyHash(prev string, seq int64, id, user, action string, meta string, at time.Time) string {
	h := sha256.New()
	for _, f := range []string{prev, fmt.Sprint(seq), id, user, "", "", action, "thing", "", "success", "", "", "", meta,
		at.UTC().Format(time.RFC3339Nano)} {
		fmt.Fprintf(h, "%d:%s|", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Rows of the global chain written before migration 00038 become the
// closed chain "legacy": they verify after it, beside the new per-workspace
// chains, and an edit to one of them is still named.
func TestMigration38_LegacyGlobalChainKeepsVerifying(t *testing.T) {
	t.Parallel()
	dbtest.EachEmptyURL(t, func(t *testing.T, url string) {
		ctx := context.Background()
		d, err := db.Open(ctx, url, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if err := d.MigrateTo(ctx, 37); err != nil {
			t.Fatalf("migrate to 37: %v", err)
		}
		prev := ""
		at := db.Now()
		for seq := int64(1); seq <= 3; seq++ {
			id, user := fmt.Sprintf("aud_legacy%d", seq), []string{"usr_a", "usr_b", "usr_a"}[seq-1]
			hash := legacyHash(prev, seq, id, user, "old.event", "{}", at)
			if _, err := d.SQL().ExecContext(ctx, `INSERT INTO audit_logs (id, seq, user_id, action, resource, status, metadata,
				created_at, prev_hash, hash) VALUES ($1, $2, $3, 'old.event', 'thing', 'success', '{}', $4, $5, $6)`,
				id, seq, user, at, prev, hash); err != nil {
				t.Fatal(err)
			}
			if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, seq, hash); err != nil {
				t.Fatal(err)
			}
			prev = hash
		}
		if _, err := d.Migrate(ctx); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		for _, u := range []string{"usr_a", "usr_b"} {
			if err := d.Tx(ctx, func(tx *db.Tx) error {
				return audit.Record(ctx, tx, actor.Actor{UserID: u}, audit.Entry{Action: "new.event", Resource: "thing"})
			}); err != nil {
				t.Fatal(err)
			}
		}
		keys, err := audit.KeySource{Dir: t.TempDir()}.Load()
		if err != nil {
			t.Fatal(err)
		}
		if n, err := audit.Seal(ctx, d, keys); err != nil || n != 3 {
			t.Fatalf("seal: %d %v (want the legacy chain and two workspaces)", n, err)
		}
		res, err := audit.Verify(ctx, d.Read(), keys)
		if err != nil || !res.OK || res.Checked != 5 || res.Chains != 3 {
			t.Fatalf("after the migration: %+v %v", res, err)
		}
		// Listing keeps its order: the new rows come after the old ones.
		p, err := audit.List(ctx, d.Read(), audit.Filter{UserID: "usr_a"})
		if err != nil || len(p.Items) != 3 || p.Items[0].Action != "new.event" || p.Items[2].ID != "aud_legacy1" || p.Items[2].ChainID != audit.LegacyChain {
			t.Fatalf("list after the migration: %+v %v", p.Items, err)
		}
		if s, err := audit.VerifyScope(ctx, d.Read(), audit.Scope{UserID: "usr_a"}); err != nil || !s.OK || s.Checked != 3 {
			t.Fatalf("scoped after the migration: %+v %v", s, err)
		}
		if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_logs SET action = 'forged' WHERE id = 'aud_legacy2'`); err != nil {
			t.Fatal(err)
		}
		res, _ = audit.Verify(ctx, d.Read(), keys)
		if res.OK || res.BadChain != audit.LegacyChain || res.BadID != "aud_legacy2" || !strings.Contains(res.Reason, "edited") {
			t.Fatalf("edited legacy row: %+v", res)
		}
	})
}
