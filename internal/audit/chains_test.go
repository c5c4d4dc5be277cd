package audit

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func recordIn(t *testing.T, d *db.DB, a actor.Actor, e Entry) {
	t.Helper()
	if err := d.Tx(context.Background(), func(tx *db.Tx) error { return Record(context.Background(), tx, a, e) }); err != nil {
		t.Fatalf("record: %v", err)
	}
}

func testKeys(t *testing.T, dir string) *SigningKeys {
	t.Helper()
	k, err := KeySource{Dir: dir}.Load()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rewriteChain is what someone with write access to the database but not
// the signing key can do: change a row, then recompute every hash of its
// chain from that row on with the chain's own code, and move the head.
func rewriteChain(t *testing.T, d *db.DB, chain string, seq int64, edit func(*Row)) {
	t.Helper()
	ctx := context.Background()
	rows, err := d.Read().QueryContext(ctx, `SELECT `+columns+` FROM audit_logs WHERE chain_id = $1 ORDER BY chain_seq`, chain)
	if err != nil {
		t.Fatal(err)
	}
	var all []Row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	rows.Close()
	prev := ""
	for _, r := range all {
		if r.ChainSeq == seq {
			edit(&r)
		}
		if r.ChainSeq >= seq {
			r.PrevHash = prev
			r.Hash = r.computeHash()
			if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_logs SET action = $1, metadata = $2, prev_hash = $3, hash = $4 WHERE id = $5`,
				r.Action, string(r.Metadata), r.PrevHash, r.Hash, r.ID); err != nil {
				t.Fatal(err)
			}
		}
		prev = r.Hash
	}
	if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_chains SET hash = $1 WHERE chain_id = $2`, prev, chain); err != nil {
		t.Fatal(err)
	}
}

func TestChains_RewriteWithRecomputedHashesIsCaughtByTheSignedCheckpoint(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		keys := testKeys(t, t.TempDir())
		org := actor.Actor{UserID: "usr_alice", OrganizationID: "org_acme"}
		for i := 0; i < 5; i++ {
			recordIn(t, d, org, Entry{Action: "credits.deduct", Resource: "credit_transaction", Metadata: map[string]any{"amount": i}})
		}
		for i := 0; i < 3; i++ {
			recordIn(t, d, actor.Actor{UserID: "usr_bob"}, Entry{Action: "workflow.created", Resource: "workflow"})
		}
		recordIn(t, d, actor.Actor{UserID: "usr_admin"}, Entry{Action: "admin.request", Resource: "http", Platform: true})

		n, err := Seal(ctx, d, keys)
		if err != nil || n != 3 {
			t.Fatalf("seal: %d checkpoints, %v; want one per chain (3)", n, err)
		}
		if n, err := Seal(ctx, d, keys); err != nil || n != 0 {
			t.Fatalf("second seal without new rows: %d, %v", n, err)
		}
		// Two more rows of the org: newer than its checkpoint.
		recordIn(t, d, org, Entry{Action: "credits.deduct", Resource: "credit_transaction"})
		recordIn(t, d, org, Entry{Action: "credits.deduct", Resource: "credit_transaction"})
		res, err := Verify(ctx, d.Read(), keys)
		if err != nil || !res.OK || res.Checked != 11 || res.Chains != 3 || res.Checkpoints != 3 || res.Unsealed != 2 || !res.SignaturesChecked {
			t.Fatalf("intact: %+v %v", res, err)
		}
		var orgChain []string
		for _, r := range mustList(t, d, "org_acme") {
			if r.ChainID != "org_acme" {
				t.Fatalf("org row in chain %q", r.ChainID)
			}
			orgChain = append(orgChain, r.ID)
		}

		// Rewrite row 2 of the org's chain and recompute every hash after
		// it: every link holds, but checkpoint 5 signed another hash.
		rewriteChain(t, d, "org_acme", 2, func(r *Row) { r.Metadata = []byte(`{"amount":0}`) })
		res, err = Verify(ctx, d.Read(), keys)
		if err != nil || res.OK || res.BadChain != "org_acme" || res.BadCheckpoint == nil || res.BadCheckpoint.Seq != 5 || res.BadSeq != 5 ||
			!strings.Contains(res.Reason, "rows 1 to 5 were rewritten") {
			t.Fatalf("rewritten chain: %+v %v", res, err)
		}
		// The scoped check of the organization finds it too.
		scoped, err := VerifyScope(ctx, d.Read(), Scope{OrganizationID: "org_acme"})
		if err != nil || scoped.OK || scoped.BadChain != "org_acme" {
			t.Fatalf("scoped check of the rewritten chain: %+v %v", scoped, err)
		}
		// Making the checkpoint agree breaks its signature.
		if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_checkpoints SET hash = (SELECT hash FROM audit_logs WHERE chain_id = 'org_acme' AND chain_seq = 5)
			WHERE chain_id = 'org_acme'`); err != nil {
			t.Fatal(err)
		}
		res, _ = Verify(ctx, d.Read(), keys)
		if res.OK || res.BadChain != "org_acme" || !strings.Contains(res.Reason, "does not verify") {
			t.Fatalf("forged checkpoint: %+v", res)
		}
		// Another key's signature is not accepted either.
		other := testKeys(t, t.TempDir())
		res, _ = Verify(ctx, d.Read(), other)
		if res.OK || !strings.Contains(res.Reason, "not among the audit signing keys") {
			t.Fatalf("unknown key: %+v", res)
		}
		if len(orgChain) != 7 {
			t.Fatalf("org chain has %d rows, want 7", len(orgChain))
		}
	})
}

func mustList(t *testing.T, d *db.DB, org string) []Row {
	t.Helper()
	p, err := List(context.Background(), d.Read(), Filter{OrganizationID: org, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return p.Items
}

func TestChains_VerifyNamesTheChainOfAnEditTruncationAndRemovedCheckpointedTail(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		keys := testKeys(t, t.TempDir())
		for i := 0; i < 3; i++ {
			recordIn(t, d, actor.Actor{UserID: "usr_a"}, Entry{Action: "x", Resource: "y"})
			recordIn(t, d, actor.Actor{UserID: "usr_b"}, Entry{Action: "x", Resource: "y"})
		}
		if _, err := Seal(ctx, d, keys); err != nil {
			t.Fatal(err)
		}
		// A plain edit is named by its hash, in its chain.
		var id string
		if err := d.Read().QueryRowContext(ctx, `SELECT id FROM audit_logs WHERE chain_id = 'usr_b' AND chain_seq = 2`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_logs SET action = 'forged' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		res, _ := Verify(ctx, d.Read(), keys)
		if res.OK || res.BadChain != "usr_b" || res.BadSeq != 2 || res.BadID != id || !strings.Contains(res.Reason, "edited") {
			t.Fatalf("edited row: %+v", res)
		}
		if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_logs SET action = 'x' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		// A row edited before the sweep reaches it is not sealed: its chain
		// is left unsigned and reported, the others are signed.
		recordIn(t, d, actor.Actor{UserID: "usr_a"}, Entry{Action: "x", Resource: "y"})
		recordIn(t, d, actor.Actor{UserID: "usr_b"}, Entry{Action: "x", Resource: "y"})
		if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_logs SET action = 'forged' WHERE chain_id = 'usr_b' AND chain_seq = 4`); err != nil {
			t.Fatal(err)
		}
		n, err := Seal(ctx, d, keys)
		if n != 1 || err == nil || !strings.Contains(err.Error(), "usr_b") {
			t.Fatalf("seal with a broken chain: %d %v", n, err)
		}
		if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_logs SET action = 'x' WHERE chain_id = 'usr_b' AND chain_seq = 4`); err != nil {
			t.Fatal(err)
		}
		// A head that does not end at the chain's last row is not signed.
		recordIn(t, d, actor.Actor{UserID: "usr_b"}, Entry{Action: "x", Resource: "y"})
		if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_chains SET hash = 'forged' WHERE chain_id = 'usr_b'`); err != nil {
			t.Fatal(err)
		}
		if n, err := Seal(ctx, d, keys); n != 0 || err == nil || !strings.Contains(err.Error(), "usr_b") || !strings.Contains(err.Error(), "head") {
			t.Fatalf("seal of a forged head: %d %v", n, err)
		}
		if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_chains SET hash = (SELECT hash FROM audit_logs WHERE chain_id = 'usr_b' AND chain_seq = 5)
			WHERE chain_id = 'usr_b'`); err != nil {
			t.Fatal(err)
		}
		// Removing the sealed tail of a chain, head included, is caught by
		// its checkpoint.
		if _, err := d.SQL().ExecContext(ctx, `DELETE FROM audit_logs WHERE chain_id = 'usr_a' AND chain_seq >= 3`); err != nil {
			t.Fatal(err)
		}
		if _, err := d.SQL().ExecContext(ctx, `UPDATE audit_chains SET seq = 2, hash = (SELECT hash FROM audit_logs WHERE chain_id = 'usr_a' AND chain_seq = 2) WHERE chain_id = 'usr_a'`); err != nil {
			t.Fatal(err)
		}
		res, _ = Verify(ctx, d.Read(), keys)
		if res.OK || res.BadChain != "usr_a" || !strings.Contains(res.Reason, "removed from the end") {
			t.Fatalf("removed tail: %+v", res)
		}
	})
}

// Several nodes' sweeps may run at once: each head is signed once.
func TestSeal_ConcurrentSweepsStoreOneCheckpointPerHead(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		keys := testKeys(t, t.TempDir())
		for i := 0; i < 4; i++ {
			recordIn(t, d, actor.Actor{UserID: "usr_" + string(rune('a'+i))}, Entry{Action: "x", Resource: "y"})
		}
		var wg sync.WaitGroup
		counts := make([]int, 4)
		errs := make([]error, 4)
		for i := range counts {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				counts[i], errs[i] = Seal(ctx, d, keys)
			}(i)
		}
		wg.Wait()
		total := 0
		for i := range counts {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			total += counts[i]
		}
		var stored int
		if err := d.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_checkpoints`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if total != 4 || stored != 4 {
			t.Fatalf("sweeps reported %d checkpoints, %d stored; want 4 and 4", total, stored)
		}
		if res, err := Verify(ctx, d.Read(), keys); err != nil || !res.OK {
			t.Fatalf("after concurrent sweeps: %+v %v", res, err)
		}
	})
}

// An append locks only its own chain's head: on PostgreSQL, a transaction
// appending to one workspace's chain does not wait for another
// workspace's open transaction. (SQLite has a single writer.)
func TestRecord_DifferentWorkspacesDoNotWaitOnEachOther(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		if d.Dialect != db.Postgres {
			t.Skip("SQLite serializes writers")
		}
		ctx := context.Background()
		recordIn(t, d, actor.Actor{OrganizationID: "org_a", UserID: "usr_1"}, Entry{Action: "x", Resource: "y"})
		recordIn(t, d, actor.Actor{OrganizationID: "org_b", UserID: "usr_1"}, Entry{Action: "x", Resource: "y"})
		holding := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- d.Tx(ctx, func(tx *db.Tx) error {
				if err := Record(ctx, tx, actor.Actor{OrganizationID: "org_a", UserID: "usr_1"}, Entry{Action: "x", Resource: "y"}); err != nil {
					return err
				}
				close(holding)
				<-release
				return nil
			})
		}()
		<-holding
		// A lock wait would fail this transaction instead of hanging.
		err := d.Tx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
				return err
			}
			return Record(ctx, tx, actor.Actor{OrganizationID: "org_b", UserID: "usr_1"}, Entry{Action: "x", Resource: "y"})
		})
		close(release)
		if err != nil {
			t.Fatalf("append to org_b while org_a's append is open: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if res, err := Verify(ctx, d.Read(), nil); err != nil || !res.OK || res.Checked != 4 {
			t.Fatalf("verify: %+v %v", res, err)
		}
	})
}

func TestSigningKeys_RotateKeepsOldKeysForVerifying(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		ks := KeySource{Dir: t.TempDir()}
		first := testKeys(t, ks.Dir)
		recordIn(t, d, actor.Actor{UserID: "usr_a"}, Entry{Action: "x", Resource: "y"})
		if _, err := Seal(ctx, d, first); err != nil {
			t.Fatal(err)
		}
		k, err := ks.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		rotated := testKeys(t, ks.Dir)
		if rotated.Primary().ID != k.ID || len(rotated.All()) != 2 || rotated.All()[1].ID != first.Primary().ID {
			t.Fatalf("rotated keys: %+v", rotated.All())
		}
		recordIn(t, d, actor.Actor{UserID: "usr_a"}, Entry{Action: "x", Resource: "y"})
		if _, err := Seal(ctx, d, rotated); err != nil {
			t.Fatal(err)
		}
		var ids []string
		if err := Checkpoints(ctx, d.Read(), func(c Checkpoint) error { ids = append(ids, c.KeyID); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(ids) != 2 || ids[0] != first.Primary().ID || ids[1] != k.ID {
			t.Fatalf("checkpoint keys: %v", ids)
		}
		// The old key may be kept as its public half only.
		pubOnly, err := ParseSigningKeys(rotated.Primary().Encode() + "\n" + SigningKey{Public: first.Primary().Public}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if res, err := Verify(ctx, d.Read(), pubOnly); err != nil || !res.OK || res.Checkpoints != 2 {
			t.Fatalf("verify with the old key's public half: %+v %v", res, err)
		}
		if _, err := ParseSigningKeys(SigningKey{Public: first.Primary().Public}.Encode()); err == nil {
			t.Fatal("a public key accepted as the signing key")
		}
	})
}
