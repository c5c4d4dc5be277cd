package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/switchboard/switchboard/internal/secret"
)

// Checkpoint signing keys.
//
// Checkpoints are signed with Ed25519 keys that are never stored in the
// database: someone who can write to the database but not read the key
// can rewrite rows and recompute every hash, but cannot sign a checkpoint
// that matches. Keys come, in order of precedence, from
//
//  1. an explicit value (--audit-signing-key / SWITCHBOARD_AUDIT_SIGNING_KEY):
//     entries separated by commas, primary (signing) key first; the same
//     list on every node;
//  2. <data-dir>/audit-signing.keys: one entry per line, primary first;
//     blank lines and lines starting with # are ignored. `switchboard audit
//     keys rotate` puts a new key in front; the sweep re-reads the file
//     every time it runs, so rotation needs no restart.
//
// With neither, a fresh key is generated into the file. An entry is a
// 32-byte Ed25519 seed (base64 or hex), which signs and verifies, or
// "public:" followed by a 32-byte public key (base64 or hex), which only
// verifies: the form an old key is kept in once its private half is
// destroyed. A key's id is derived from its public key, so a witness
// holding only public keys computes the same ids.
const SigningKeysFile = "audit-signing.keys"

// SigningKey is one checkpoint key. Private is nil for a verify-only key.
type SigningKey struct {
	ID      string
	Public  ed25519.PublicKey
	Private ed25519.PrivateKey
}

// SigningKeys is a set of checkpoint keys: the first signs, all verify.
type SigningKeys struct {
	keys []SigningKey
}

// SigningKeyID derives a key id from a public key.
func SigningKeyID(pub ed25519.PublicKey) string {
	h := sha256.New()
	h.Write([]byte("switchboard audit signing key id\x00"))
	h.Write(pub)
	return "a" + hex.EncodeToString(h.Sum(nil))[:10]
}

// NewSigningKeys builds a set from keys, primary first.
func NewSigningKeys(keys ...SigningKey) (*SigningKeys, error) {
	if len(keys) == 0 {
		return nil, errors.New("no audit signing key given")
	}
	if keys[0].Private == nil {
		return nil, errors.New("the first audit signing key must be a private key (it signs); public: entries may only follow it")
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k.ID] {
			return nil, fmt.Errorf("audit signing key %s is listed twice", k.ID)
		}
		seen[k.ID] = true
	}
	return &SigningKeys{keys: keys}, nil
}

// Primary is the key new checkpoints are signed with.
func (s *SigningKeys) Primary() SigningKey { return s.keys[0] }

// All returns every key, primary first.
func (s *SigningKeys) All() []SigningKey { return append([]SigningKey(nil), s.keys...) }

// Public returns the public key with this id.
func (s *SigningKeys) Public(id string) (ed25519.PublicKey, bool) {
	for _, k := range s.keys {
		if k.ID == id {
			return k.Public, true
		}
	}
	return nil, false
}

// GenerateSigningKey returns a fresh private key.
func GenerateSigningKey() (SigningKey, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return SigningKey{}, err
	}
	return keyFromSeed(seed), nil
}

func keyFromSeed(seed []byte) SigningKey {
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	return SigningKey{ID: SigningKeyID(pub), Public: pub, Private: priv}
}

// Encode writes the key as a line of the keys file: its seed, or
// "public:" and its public key for a verify-only key.
func (k SigningKey) Encode() string {
	if k.Private == nil {
		return "public:" + base64.StdEncoding.EncodeToString(k.Public)
	}
	return base64.StdEncoding.EncodeToString(k.Private.Seed())
}

// ParseSigningKeys reads entries one per line, primary first.
func ParseSigningKeys(text string) (*SigningKeys, error) {
	var keys []SigningKey
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		public := strings.HasPrefix(line, "public:")
		raw, err := decode32(strings.TrimPrefix(line, "public:"))
		if err != nil {
			return nil, fmt.Errorf("audit signing key %d: %w", i+1, err)
		}
		if public {
			pub := ed25519.PublicKey(raw)
			keys = append(keys, SigningKey{ID: SigningKeyID(pub), Public: pub})
		} else {
			keys = append(keys, keyFromSeed(raw))
		}
	}
	return NewSigningKeys(keys...)
}

func decode32(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("must be 32 bytes, got %d", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("neither base64 nor hex")
}

// KeySource says where a node's checkpoint keys come from: the configured
// value, else the data dir's file.
type KeySource struct {
	Value string
	Dir   string
}

// FileBacked reports whether the keys live in the data dir's file.
func (ks KeySource) FileBacked() bool { return strings.TrimSpace(ks.Value) == "" }

// Path is the data dir's keys file.
func (ks KeySource) Path() string { return filepath.Join(ks.Dir, SigningKeysFile) }

// Load reads the keys, generating the file with a fresh key when there is
// neither a value nor a file.
func (ks KeySource) Load() (*SigningKeys, error) {
	if !ks.FileBacked() {
		k, err := ParseSigningKeys(strings.ReplaceAll(ks.Value, ",", "\n"))
		if err != nil {
			return nil, fmt.Errorf("SWITCHBOARD_AUDIT_SIGNING_KEY: %w", err)
		}
		return k, nil
	}
	raw, err := os.ReadFile(ks.Path())
	if errors.Is(err, os.ErrNotExist) {
		return ks.create()
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ks.Path(), err)
	}
	k, err := ParseSigningKeys(string(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w; fix or restore it", ks.Path(), err)
	}
	return k, nil
}

func (ks KeySource) create() (*SigningKeys, error) {
	k, err := GenerateSigningKey()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(ks.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", ks.Dir, err)
	}
	f, err := os.OpenFile(ks.Path(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// Another process won the race; use its key.
		return ks.Load()
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", ks.Path(), err)
	}
	defer f.Close()
	if _, err := f.WriteString(signingKeysText([]SigningKey{k})); err != nil {
		return nil, fmt.Errorf("write %s: %w", ks.Path(), err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("write %s: %w", ks.Path(), err)
	}
	return NewSigningKeys(k)
}

// Rotate puts a fresh key in front of the file's keys; the old ones stay
// to verify the checkpoints they signed. It returns the new key.
func (ks KeySource) Rotate() (SigningKey, error) {
	if !ks.FileBacked() {
		return SigningKey{}, errors.New("keys come from SWITCHBOARD_AUDIT_SIGNING_KEY: put a new key (from `switchboard audit keys generate`) first in that list on every node")
	}
	old, err := ks.Load()
	if err != nil {
		return SigningKey{}, err
	}
	k, err := GenerateSigningKey()
	if err != nil {
		return SigningKey{}, err
	}
	if err := secret.WriteFileAtomic(ks.Path(), signingKeysText(append([]SigningKey{k}, old.keys...))); err != nil {
		return SigningKey{}, err
	}
	return k, nil
}

func signingKeysText(keys []SigningKey) string {
	var b strings.Builder
	b.WriteString("# Switchboard audit checkpoint signing keys (Ed25519 seeds), one per line, primary first.\n")
	b.WriteString("# Keep old keys (or their public:… form) as long as checkpoints signed with them are kept.\n")
	for _, k := range keys {
		b.WriteString(k.Encode() + "\n")
	}
	return b.String()
}
