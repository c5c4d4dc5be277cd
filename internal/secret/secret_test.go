package secret_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/secret"
)

func mustKey(t *testing.T) secret.Key {
	t.Helper()
	k, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSeal_RoundTripFreshNonceAndBoundContext(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	kr, err := secret.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := kr.Seal([]byte("bot-token"), "gateway:1")
	b, _ := kr.Seal([]byte("bot-token"), "gateway:1")
	if a == b {
		t.Error("two seals of the same value are identical: nonce reused")
	}
	if !strings.HasPrefix(a, "sb1:"+k.ID+":") || strings.Contains(a, "bot-token") {
		t.Errorf("sealed form %q", a)
	}
	if got, err := kr.Open(a, "gateway:1"); err != nil || string(got) != "bot-token" {
		t.Errorf("open: %q %v", got, err)
	}
	if _, err := kr.Open(a, "gateway:2"); !errors.Is(err, secret.ErrCorrupt) {
		t.Errorf("opened under another context: %v", err)
	}
	// Change a character well inside the encoding: the last one may carry
	// padding bits that decode to the same bytes whatever they are.
	i := len(a) - 10
	c := byte('A')
	if a[i] == c {
		c = 'B'
	}
	tampered := a[:i] + string(c) + a[i+1:]
	if _, err := kr.Open(tampered, "gateway:1"); !errors.Is(err, secret.ErrCorrupt) {
		t.Errorf("tampered value opened: %v", err)
	}
	// Swapping the key id in the prefix does not work either.
	other := mustKey(t)
	kr2, _ := secret.NewKeyring(other, k)
	swapped := strings.Replace(a, k.ID, other.ID, 1)
	if _, err := kr2.Open(swapped, "gateway:1"); !errors.Is(err, secret.ErrCorrupt) {
		t.Errorf("value with swapped key id opened: %v", err)
	}
}

func TestKeyring_OldKeysOpenPrimarySealsMissingKeyNamed(t *testing.T) {
	t.Parallel()
	old, cur := mustKey(t), mustKey(t)
	krOld, _ := secret.NewKeyring(old)
	sealed, _ := krOld.Seal([]byte("v"), "c")
	kr, _ := secret.NewKeyring(cur, old)
	if got, err := kr.Open(sealed, "c"); err != nil || string(got) != "v" {
		t.Fatalf("old key cannot open: %v", err)
	}
	again, _ := kr.Seal([]byte("v"), "c")
	if id, _ := secret.KeyID(again); id != cur.ID {
		t.Errorf("sealed under %s, want primary %s", id, cur.ID)
	}
	onlyCur, _ := secret.NewKeyring(cur)
	_, err := onlyCur.Open(sealed, "c")
	if !errors.Is(err, secret.ErrMissingKey) || !strings.Contains(err.Error(), old.ID) {
		t.Errorf("missing key error %v should name %s", err, old.ID)
	}
}

func TestLoad_FileRotationIsPickedUpByRunningKeyring(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kr, err := secret.Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	first := kr.PrimaryID()
	sealed, _ := kr.Seal([]byte("v"), "c")
	if st, _ := os.Stat(filepath.Join(dir, secret.KeysFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("keys file mode %v", st.Mode().Perm())
	}
	// Another process (keys rotate) adds a primary.
	nk, err := secret.AddPrimaryToFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := secret.Load("", dir)
	newSealed, _ := other.Seal([]byte("w"), "c")
	// The running keyring opens the new value at once (forced reload) …
	if got, err := kr.Open(newSealed, "c"); err != nil || string(got) != "w" {
		t.Fatalf("running keyring cannot open value under the new key: %v", err)
	}
	// … still opens the old one, and now seals under the new primary.
	if _, err := kr.Open(sealed, "c"); err != nil {
		t.Fatal(err)
	}
	if kr.PrimaryID() != nk.ID || nk.ID == first {
		t.Errorf("primary %s, want %s", kr.PrimaryID(), nk.ID)
	}
	if err := secret.RemoveFromFile(dir, nk.ID); err == nil {
		t.Error("removed the primary key")
	}
	if err := secret.RemoveFromFile(dir, first); err != nil {
		t.Fatal(err)
	}
	kr.SetReloadInterval(time.Nanosecond)
	kr.PrimaryID() // the periodic check re-reads the changed file
	if _, err := kr.Open(sealed, "c"); !errors.Is(err, secret.ErrMissingKey) {
		t.Errorf("value under a pruned key: %v", err)
	}
}

// TestLoad_ConcurrentOpensAfterRotationAllSucceed has many readers meet a
// value under a freshly rotated key at once: one of them reloads the file,
// and the others, whose own reload then finds nothing new, must still see
// the key the winner loaded instead of reporting it missing.
func TestLoad_ConcurrentOpensAfterRotationAllSucceed(t *testing.T) {
	t.Parallel()
	for round := 0; round < 40; round++ {
		dir := t.TempDir()
		kr, err := secret.Load("", dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := secret.AddPrimaryToFile(dir); err != nil {
			t.Fatal(err)
		}
		other, err := secret.Load("", dir)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := other.Seal([]byte("v"), "c")
		if err != nil {
			t.Fatal(err)
		}
		id, _ := secret.KeyID(sealed)
		const readers = 8
		start := make(chan struct{})
		errs := make(chan error, 2*readers)
		var wg sync.WaitGroup
		for i := 0; i < readers; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				if _, err := kr.Open(sealed, "c"); err != nil {
					errs <- err
				}
			}()
			go func() {
				defer wg.Done()
				<-start
				if !kr.Has(id) {
					errs <- errors.New("Has: key " + id + " reported missing")
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

func TestLoad_EnvListAndLegacyFile(t *testing.T) {
	t.Parallel()
	a, b := mustKey(t), mustKey(t)
	kr, err := secret.Load(a.Encode()+","+b.Encode(), t.TempDir())
	if err != nil || kr.PrimaryID() != a.ID || len(kr.IDs()) != 2 {
		t.Fatalf("env keyring: %v %v", kr, err)
	}
	if _, err := secret.Load("not a key", t.TempDir()); err == nil {
		t.Error("accepted a bad key")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, secret.LegacyFile), []byte(a.Encode()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	legacy, err := secret.Load("", dir)
	if err != nil || legacy.PrimaryID() != a.ID {
		t.Fatalf("legacy secret.key: %v", err)
	}
	nk, err := secret.AddPrimaryToFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, secret.KeysFile))
	if !bytes.Contains(raw, []byte(a.Encode())) || !bytes.Contains(raw, []byte(nk.Encode())) {
		t.Errorf("rotation from a legacy key lost a key:\n%s", raw)
	}
}
