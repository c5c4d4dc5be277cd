package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/safehttp"
	"github.com/switchboard/switchboard/internal/secret"
)

// newTestService builds a service on d with a file-backed keyring in dir
// and an insert-only job runner.
func newTestService(t testing.TB, d *db.DB, dir string) *Service {
	t.Helper()
	ctx := context.Background()
	if err := jobs.Migrate(ctx, d); err != nil {
		t.Fatal(err)
	}
	runner := jobs.NewRunner(d, jobs.Config{})
	if err := runner.Open(); err != nil {
		t.Fatal(err)
	}
	kr, err := secret.Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	kr.SetReloadInterval(10 * time.Millisecond)
	client, err := safehttp.New(safehttp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return New(d, kr, runner, Adapters(client, BaseURLs{}), "https://switchboard.test", nil, Options{})
}

func whsec(t testing.TB) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// TestRotation_WhileReadingAndWriting rotates the key (as `switchboard keys
// rotate` does from another process: new key file, then re-seal in
// batches) while writers keep replacing credentials and readers keep
// opening them. Nothing may fail, no write may be lost, and afterwards
// every credential is under the new key.
func TestRotation_WhileReadingAndWriting(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		dir := t.TempDir()
		s := newTestService(t, d, dir)
		a := actor.Actor{UserID: ids.New(ids.User), Role: actor.Member, Plan: actor.Enterprise}
		const n = 24
		gwIDs := make([]string, n)
		latest := make([]string, n)
		for i := range gwIDs {
			latest[i] = whsec(t)
			g, err := s.Create(ctx, a, CreateInput{Type: channel.Webhook, Name: fmt.Sprint("g", i), Credentials: map[string]string{"signingSecret": latest[i]}})
			if err != nil {
				t.Fatal(err)
			}
			gwIDs[i] = g.ID
		}
		oldKey := s.Keys().PrimaryID()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var reads, writes atomic.Int64
		var mu sync.Mutex
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func(w int) { // writer w owns every other gateway
				defer wg.Done()
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					i := (k*2 + w) % n
					v := whsec(t)
					if _, err := s.Update(ctx, a, gwIDs[i], UpdateInput{Credentials: map[string]string{"signingSecret": v}}); err != nil {
						t.Errorf("update during rotation: %v", err)
						return
					}
					mu.Lock()
					latest[i] = v
					mu.Unlock()
					writes.Add(1)
				}
			}(w)
		}
		for r := 0; r < 2; r++ {
			wg.Add(1)
			go func(r int) {
				defer wg.Done()
				for k := r; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					if _, _, _, err := s.loadForUse(ctx, a, gwIDs[k%n], actor.PermGatewayRead); err != nil {
						t.Errorf("read during rotation: %v", err)
						return
					}
					reads.Add(1)
				}
			}(r)
		}
		time.Sleep(30 * time.Millisecond)
		nk, err := secret.AddPrimaryToFile(dir)
		if err != nil {
			t.Fatal(err)
		}
		rot, err := secret.Load("", dir)
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resealed, err := secret.Reseal(rctx, rot, secret.RotateOptions{Batch: 5, Pause: 20 * time.Millisecond}, s.SecretStore())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond) // more traffic under the new key
		close(stop)
		wg.Wait()
		t.Logf("rotation re-sealed %d values during %d writes and %d reads", resealed, writes.Load(), reads.Load())
		if writes.Load() == 0 || reads.Load() == 0 {
			t.Fatal("no traffic during rotation")
		}
		counts, err := s.SecretStore().CountByKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != 1 || counts[nk.ID] != n {
			t.Errorf("after rotation: %v, want all %d under %s", counts, n, nk.ID)
		}
		for i, id := range gwIDs {
			r, creds, _, err := s.loadForUse(ctx, a, id, actor.PermGatewayRead)
			if err != nil {
				t.Fatal(err)
			}
			if creds["signingSecret"] != latest[i] || r.keyID != nk.ID || !strings.HasPrefix(r.credsEnc, "sb1:"+nk.ID+":") {
				t.Errorf("gateway %d: lost write or wrong key (%s)", i, r.keyID)
			}
		}
		// A node started with only the old key refuses to start, naming
		// the key it lacks.
		oldOnly, _ := secret.Load("", dir)
		if err := secret.RemoveFromFile(dir, oldKey); err != nil {
			t.Fatal(err)
		}
		stale, _ := secret.NewKeyring(mustOnlyKey(t, oldOnly, oldKey))
		err = secret.CheckKeys(ctx, stale, s.SecretStore())
		if err == nil || !strings.Contains(err.Error(), nk.ID) {
			t.Errorf("start-up check with a missing key: %v", err)
		}
	})
}

func mustOnlyKey(t *testing.T, kr *secret.Keyring, id string) secret.Key {
	t.Helper()
	k, ok := kr.Key(id)
	if !ok {
		t.Fatalf("key %s not in keyring", id)
	}
	return k
}
