package db_test

import (
	"context"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/secret"
	"github.com/switchboard/switchboard/internal/workflow"
)

// Migration 00023 keeps every gateway and workflow with its plaintext hook
// token; the start-up sealing that follows it seals each token exactly
// once, however many nodes run it at the same time, and empties the
// plaintext (the old unique constraint would have refused that).
func TestMigration23_HookTokensSealedOnceAfterUpgrade(t *testing.T) {
	t.Parallel()
	dbtest.EachEmptyURL(t, func(t *testing.T, url string) {
		ctx := context.Background()
		d, err := db.Open(ctx, url, db.Options{MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if err := d.MigrateTo(ctx, 22); err != nil {
			t.Fatalf("migrate to 22: %v", err)
		}
		now := db.Now()
		gateways := map[string]string{"gw_a": "token-of-gateway-a", "gw_b": "token-of-gateway-b"}
		workflows := map[string]string{"wf_a": "token-of-workflow-a", "wf_deleted": "token-of-deleted-workflow"}
		for id, tok := range gateways {
			if _, err := d.SQL().ExecContext(ctx, `INSERT INTO gateways (id, workspace_id, user_id, type, name, credentials_enc,
				credentials_key_id, hook_token, created_at, updated_at) VALUES ($1, 'usr_1', 'usr_1', 'TELEGRAM', $1, 'sb1:k:x', 'k', $2, $3, $3)`,
				id, tok, now); err != nil {
				t.Fatal(err)
			}
		}
		for id, tok := range workflows {
			if _, err := d.SQL().ExecContext(ctx, `INSERT INTO workflows (id, workspace_id, user_id, name, version, version_id, trigger_type,
				hook_token, created_at, updated_at) VALUES ($1, 'usr_1', 'usr_1', $1, 1, 'wfv_1', 'webhook', $2, $3, $3)`,
				id, tok, now); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.SQL().ExecContext(ctx, `UPDATE workflows SET deleted_at = $1 WHERE id = 'wf_deleted'`, now); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Migrate(ctx); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		for table, want := range map[string]map[string]string{"gateways": gateways, "workflows": workflows} {
			for id, tok := range want {
				var plain, enc string
				if err := d.Read().QueryRowContext(ctx, `SELECT hook_token, hook_token_enc FROM `+table+` WHERE id = $1`, id).Scan(&plain, &enc); err != nil {
					t.Fatalf("%s %s after the migration: %v", table, id, err)
				}
				if plain != tok || enc != "" {
					t.Errorf("%s %s after the migration: hook_token %q, hook_token_enc %q", table, id, plain, enc)
				}
			}
		}

		key, _ := secret.GenerateKey()
		kr, _ := secret.NewKeyring(key)
		var mu sync.Mutex
		sealed := map[string]int{}
		var wg sync.WaitGroup
		for node := 0; node < 3; node++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g, gerr := gateway.SealHookTokens(ctx, d, kr)
				w, werr := workflow.SealHookTokens(ctx, d, kr)
				mu.Lock()
				defer mu.Unlock()
				if gerr != nil || werr != nil {
					t.Errorf("seal: %v %v", gerr, werr)
				}
				sealed["gateways"] += g
				sealed["workflows"] += w
			}()
		}
		wg.Wait()
		if sealed["gateways"] != 2 || sealed["workflows"] != 2 {
			t.Errorf("three nodes sealed %v, want each row once", sealed)
		}
		stores := map[string]secret.Column{"gateways": gateway.HookTokenStore(d), "workflows": workflow.HookTokenStore(d)}
		for table, want := range map[string]map[string]string{"gateways": gateways, "workflows": workflows} {
			for id, tok := range want {
				var plain, enc, keyID string
				if err := d.Read().QueryRowContext(ctx, `SELECT hook_token, hook_token_enc, hook_token_key_id FROM `+table+` WHERE id = $1`,
					id).Scan(&plain, &enc, &keyID); err != nil {
					t.Fatal(err)
				}
				got, err := kr.Open(enc, stores[table].Context(id))
				if plain != "" || keyID != key.ID || err != nil || string(got) != tok {
					t.Errorf("%s %s sealed: plain %q key %q opens to %q (%v)", table, id, plain, keyID, got, err)
				}
			}
		}
		if n, err := gateway.SealHookTokens(ctx, d, kr); n != 0 || err != nil {
			t.Errorf("sealing again: %d %v", n, err)
		}
	})
}
