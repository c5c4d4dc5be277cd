// Package secret seals third-party credentials at rest with AES-256-GCM
// under a keyring of versioned keys, so keys rotate without downtime.
//
// A sealed value is text: "sb1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>".
// Every Seal draws a fresh random 96-bit nonce. The caller passes a context
// string (for example the gateway id) that is bound to the ciphertext as
// additional authenticated data, so a sealed value copied onto another row
// does not open there.
//
// The key id is derived from the key itself (a truncated SHA-256), so every
// node that holds the same key agrees on its id without coordination, and a
// sealed value names exactly the key it needs.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// KeySize is the length of every sealing key (AES-256).
const KeySize = 32

const prefix = "sb1:"

// ErrMissingKey is returned when a sealed value names a key the keyring does
// not hold. The error message names the key id.
var ErrMissingKey = errors.New("secret: sealing key not in keyring")

// ErrCorrupt is returned for values that are not sealed values or fail
// authentication (tampered, or opened under the wrong context).
var ErrCorrupt = errors.New("secret: sealed value is corrupt or belongs elsewhere")

// Key is one sealing key with its derived id.
type Key struct {
	ID  string
	raw []byte
}

// NewKey wraps 32 raw bytes as a key.
func NewKey(raw []byte) (Key, error) {
	if len(raw) != KeySize {
		return Key{}, fmt.Errorf("secret: key must be %d bytes, got %d", KeySize, len(raw))
	}
	return Key{ID: KeyIDOf(raw), raw: append([]byte(nil), raw...)}, nil
}

// GenerateKey returns a fresh random key.
func GenerateKey() (Key, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return Key{}, fmt.Errorf("secret: generate key: %w", err)
	}
	return NewKey(raw)
}

// Encode returns the key as standard base64, the form key files and
// SWITCHBOARD_SECRET_KEY hold.
func (k Key) Encode() string { return base64.StdEncoding.EncodeToString(k.raw) }

// KeyIDOf derives the id of a raw key: "k" and 10 hex digits of a SHA-256
// over a domain-separated copy of the key. It reveals nothing usable.
func KeyIDOf(raw []byte) string {
	h := sha256.New()
	h.Write([]byte("switchboard secret key id\x00"))
	h.Write(raw)
	return "k" + hex.EncodeToString(h.Sum(nil))[:10]
}

// Keyring holds one primary key, which seals, and older keys, which only
// open. It is safe for concurrent use; Replace swaps its keys atomically
// (a file-backed keyring does so when its file changes).
type Keyring struct {
	mu      sync.RWMutex
	primary Key
	keys    map[string]cipher.AEAD
	raw     map[string]Key
	ids     []string
	// source, when set, is the data dir the keys were read from; the
	// keyring re-reads it when it changes (see refresh).
	source *fileSource
}

// NewKeyring builds a keyring; keys[0] is the primary.
func NewKeyring(keys ...Key) (*Keyring, error) {
	kr := &Keyring{}
	if err := kr.Replace(keys...); err != nil {
		return nil, err
	}
	return kr, nil
}

// Replace swaps the keyring's keys; keys[0] becomes the primary.
func (kr *Keyring) Replace(keys ...Key) error {
	if len(keys) == 0 {
		return errors.New("secret: a keyring needs at least one key")
	}
	aeads := make(map[string]cipher.AEAD, len(keys))
	raw := make(map[string]Key, len(keys))
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if _, dup := aeads[k.ID]; dup {
			continue
		}
		block, err := aes.NewCipher(k.raw)
		if err != nil {
			return fmt.Errorf("secret: key %s: %w", k.ID, err)
		}
		g, err := cipher.NewGCM(block)
		if err != nil {
			return fmt.Errorf("secret: key %s: %w", k.ID, err)
		}
		aeads[k.ID], raw[k.ID] = g, k
		ids = append(ids, k.ID)
	}
	kr.mu.Lock()
	kr.primary, kr.keys, kr.raw, kr.ids = keys[0], aeads, raw, ids
	kr.mu.Unlock()
	return nil
}

// PrimaryID is the id of the key new values are sealed with.
func (kr *Keyring) PrimaryID() string {
	kr.refresh(false)
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.primary.ID
}

// IDs lists the ids of every key, primary first.
func (kr *Keyring) IDs() []string {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return append([]string(nil), kr.ids...)
}

// Has reports whether the keyring holds the key with this id (reloading a
// file-backed keyring first if it may have changed).
func (kr *Keyring) Has(id string) bool {
	_, ok := kr.aead(id)
	return ok
}

// aead returns the cipher for key id. A miss forces a reload and then looks
// again whatever the reload reports: a concurrent reload may have loaded
// the key just before ours found the file unchanged, and refresh returns
// only after any reload in progress has replaced the keys.
func (kr *Keyring) aead(id string) (cipher.AEAD, bool) {
	kr.mu.RLock()
	g, ok := kr.keys[id]
	kr.mu.RUnlock()
	if ok || kr.source == nil {
		return g, ok
	}
	kr.refresh(true)
	kr.mu.RLock()
	g, ok = kr.keys[id]
	kr.mu.RUnlock()
	return g, ok
}

// Seal encrypts plaintext under the primary key, bound to context.
func (kr *Keyring) Seal(plaintext []byte, context string) (string, error) {
	kr.refresh(false)
	kr.mu.RLock()
	id := kr.primary.ID
	g := kr.keys[id]
	kr.mu.RUnlock()
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(plaintext)+g.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secret: nonce: %w", err)
	}
	out := g.Seal(nonce, nonce, plaintext, aad(id, context))
	return prefix + id + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a sealed value made under context. It returns ErrMissingKey
// (naming the key id) when the value's key is not in the keyring, and
// ErrCorrupt when the value was altered or belongs to another context.
func (kr *Keyring) Open(sealed, context string) ([]byte, error) {
	id, body, err := split(sealed)
	if err != nil {
		return nil, err
	}
	g, ok := kr.aead(id)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrMissingKey, id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < g.NonceSize()+g.Overhead() {
		return nil, ErrCorrupt
	}
	plain, err := g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], aad(id, context))
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

// KeyID returns the id of the key a sealed value was made with.
func KeyID(sealed string) (string, error) {
	id, _, err := split(sealed)
	return id, err
}

func split(sealed string) (id, body string, err error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", "", ErrCorrupt
	}
	id, body, ok = strings.Cut(rest, ":")
	if !ok || id == "" || body == "" {
		return "", "", ErrCorrupt
	}
	return id, body, nil
}

// aad binds the key id as well as the caller's context, so the key id in
// the prefix cannot be swapped either.
func aad(keyID, context string) []byte {
	return []byte("switchboard:" + keyID + ":" + context)
}

// Key returns the key with this id, for tools that build keyrings.
func (kr *Keyring) Key(id string) (Key, bool) {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	k, ok := kr.raw[id]
	return k, ok
}
