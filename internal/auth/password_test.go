package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func TestHashPassword_EncodesTheProductionArgon2idParameters(t *testing.T) {
	var c Config
	c.defaults()
	if c.Hash != DefaultHashParams {
		t.Fatalf("a zero Config hashes with %+v, want the production %+v", c.Hash, DefaultHashParams)
	}
	h, err := hashPassword("correct horse battery", c.Hash)
	if err != nil {
		t.Fatal(err)
	}
	const head = "$argon2id$v=19$m=7168,t=5,p=1$"
	if !strings.HasPrefix(h, head) {
		t.Fatalf("hash %q does not start with %q", h, head)
	}
	parts := strings.Split(h, "$")
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("hash %q: salt %d bytes, key %d bytes", h, len(salt), len(key))
	}
	if again, _ := hashPassword("correct horse battery", c.Hash); again == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		if ok, err := verifyPassword(pw, h); err != nil || ok != want {
			t.Errorf("verify %q: %v, %v; want %v", pw, ok, err, want)
		}
	}
}

func TestVerifyPassword_RejectsATamperedHash(t *testing.T) {
	// Cheap parameters: what is under test is the parsing and comparison,
	// which do not depend on the cost.
	p := HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	const pw = "correct horse battery"
	h, err := hashPassword(pw, p)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := verifyPassword(pw, h); !ok || err != nil {
		t.Fatalf("untampered hash: %v, %v", ok, err)
	}
	parts := strings.Split(h, "$") // "", argon2id, v=19, m=…,t=…,p=…, salt, key
	with := func(i int, v string) string {
		c := append([]string(nil), parts...)
		c[i] = v
		return strings.Join(c, "$")
	}
	flip := func(b64 string) string {
		raw, _ := base64.RawStdEncoding.DecodeString(b64)
		raw[len(raw)/2] ^= 1
		return base64.RawStdEncoding.EncodeToString(raw)
	}
	cases := map[string]string{
		"key bit flipped":         with(5, flip(parts[5])),
		"salt bit flipped":        with(4, flip(parts[4])),
		"key truncated":           with(5, parts[5][:len(parts[5])-6]),
		"key empty":               with(5, ""),
		"memory changed":          with(3, "m=65,t=1,p=1"),
		"passes changed":          with(3, "m=64,t=2,p=1"),
		"lanes changed":           with(3, "m=64,t=1,p=2"),
		"zero passes":             with(3, "m=64,t=0,p=1"),
		"zero lanes":              with(3, "m=64,t=1,p=0"),
		"huge memory":             with(3, "m=4294967295,t=1,p=1"),
		"lanes overflow":          with(3, "m=64,t=1,p=256"),
		"params missing":          with(3, "m=64"),
		"other algorithm":         with(1, "argon2i"),
		"other version":           with(2, "v=16"),
		"salt not base64":         with(4, "!!!"),
		"key not base64":          with(5, "!!!"),
		"extra field":             h + "$x",
		"no fields":               "argon2id",
		"empty":                   "",
		"another password's":      mustHash(t, "another passphrase", p),
		"bcrypt in its place":     "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"plain text in its place": pw,
	}
	for name, tampered := range cases {
		t.Run(name, func(t *testing.T) {
			ok, err := verifyPassword(pw, tampered)
			if ok {
				t.Fatalf("verify accepted tampered hash %q (err %v)", tampered, err)
			}
		})
	}
}

func mustHash(t *testing.T, pw string, p HashParams) string {
	t.Helper()
	h, err := hashPassword(pw, p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCheckPassword_LengthInCharactersAndCommonList(t *testing.T) {
	cases := []struct {
		pw string
		ok bool
	}{
		{"correct horse battery", true},
		{"seven!!", false},
		{"eight!!!", true},
		{"ééééééé", false}, // 7 characters, 14 bytes
		{"éééééééé", true}, // 8 characters
		{strings.Repeat("x", 128), true},
		{strings.Repeat("x", 129), false},
		{"password", false},
		{"PASSWORD", false},
		{"12345678", false},
		{"password1", false},
		{"iloveyou", false},
		{"qwertyuiop", false},
		{"sunshine", false},
		{"football", false},
		{"trustno1", false},
		{"password123", false},
		{"qwerty123", false},
	}
	for _, tc := range cases {
		if err := checkPassword("password", tc.pw); (err == nil) != tc.ok {
			t.Errorf("checkPassword(%q) = %v, want ok=%v", tc.pw, err, tc.ok)
		}
	}
}

// A burst of sign-ins must not hold one argon2 buffer per request: once
// every slot is busy, the next hash waits for one to free.
func TestHashPassword_WaitsForAFreeSlot(t *testing.T) {
	fast := HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	done := make(chan error, 1)
	go func() {
		_, err := hashPassword("correct horse battery", fast)
		done <- err
	}()
	select {
	case <-done:
		t.Fatalf("a hash ran while all %d slots were taken", cap(hashSlots))
	case <-time.After(150 * time.Millisecond):
	}
	<-hashSlots
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for range cap(hashSlots) - 1 {
		<-hashSlots
	}
}

// A change of the node's hash cost reaches an account at its next sign-in:
// the proven password is hashed again with the new parameters, and both
// the new hash and a wrong password behave as before.
func TestLogin_UpgradesAHashWithOldParameters(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		old := HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
		now := HashParams{MemoryKiB: 128, Iterations: 2, Parallelism: 1}
		u, err := newTestService(t, d, old).Signup(ctx, actor.Anonymous(actor.Request{}), SignupInput{Email: "upgrade@example.com", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		stored := func() string {
			var h string
			if err := d.Read().QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&h); err != nil {
				t.Fatal(err)
			}
			return h
		}
		if p, _ := hashParamsOf(stored()); p != old {
			t.Fatalf("signed up with %+v, want %+v", p, old)
		}
		s := newTestService(t, d, now)
		if _, err := s.Login(ctx, actor.Anonymous(actor.Request{}), "upgrade@example.com", "not the right passphrase"); !errors.Is(err, errBadCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
		if p, _ := hashParamsOf(stored()); p != old {
			t.Fatalf("a wrong password changed the hash to %+v", p)
		}
		if _, err := s.Login(ctx, actor.Anonymous(actor.Request{}), "upgrade@example.com", "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		if p, _ := hashParamsOf(stored()); p != now {
			t.Fatalf("after sign-in the hash has %+v, want %+v", p, now)
		}
		if _, err := s.Login(ctx, actor.Anonymous(actor.Request{}), "upgrade@example.com", "correct horse battery"); err != nil {
			t.Fatalf("sign-in with the upgraded hash: %v", err)
		}
	})
}
