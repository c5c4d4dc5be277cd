package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/secret"
)

// DecodeKey accepts a key written as base64 (standard or URL, padded or
// not) or hex.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) >= 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("key is neither base64 nor hex")
}

// LoadOrCreateKey returns the key given in value, or the one stored in
// <dir>/<file>, creating that file with a fresh random key on first use.
// The file is written with mode 0600 and never overwritten.
func LoadOrCreateKey(value, dir, file string, minLen int) ([]byte, error) {
	if value != "" {
		k, err := DecodeKey(value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(k) < minLen {
			return nil, fmt.Errorf("%s: key must be at least %d bytes, got %d", file, minLen, len(k))
		}
		return k, nil
	}
	path := filepath.Join(dir, file)
	raw, err := os.ReadFile(path)
	if err == nil {
		k, err := DecodeKey(string(raw))
		if err != nil || len(k) < minLen {
			return nil, fmt.Errorf("%s is not a valid key of at least %d bytes; fix or remove it", path, minLen)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// Another process won the race; use its key.
		return LoadOrCreateKey("", dir, file, minLen)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return k, f.Sync()
}

// validateKeys checks explicit key values with the other settings, so a
// bad key is reported together with every other bad setting.
func validateKeys(bad func(name, format string, args ...any), tokenKey, secretKey string) {
	if tokenKey != "" {
		if k, err := DecodeKey(tokenKey); err != nil || len(k) < 32 {
			bad("token-key", "must be at least 32 bytes written as base64 or hex")
		}
	}
	if strings.TrimSpace(secretKey) != "" {
		if _, err := secret.ParseKeys(strings.ReplaceAll(secretKey, ",", "\n")); err != nil {
			bad("secret-key", "must be one or more comma-separated 32-byte keys written as base64 or hex (%v)", err)
		}
	}
}

// ClusterWarnings says what an operator must fix before running more than
// one node: on PostgreSQL, a key read from (or generated into) the data dir
// is each node's own, so tokens signed or values sealed on one node would
// not be accepted or readable on another.
func (c Config) ClusterWarnings() []string {
	if !db.IsPostgresURL(c.DatabaseURL) {
		return nil
	}
	var out []string
	if c.TokenKey == "" {
		out = append(out, "the access-token signing key comes from "+filepath.Join(c.DataDir, "token.key")+
			", this node's own: every node must sign with the same key; set SWITCHBOARD_TOKEN_KEY (or --token-key) to one key on all nodes")
	}
	if strings.TrimSpace(c.SecretKey) == "" {
		out = append(out, "the secret sealing keyring comes from "+filepath.Join(c.DataDir, secret.KeysFile)+
			", this node's own: every node must hold the same keys; set SWITCHBOARD_SECRET_KEY (or --secret-key) to the same keys on all nodes")
	}
	if strings.TrimSpace(c.AuditSigningKey) == "" {
		out = append(out, "the audit checkpoint signing keys come from "+filepath.Join(c.DataDir, "audit-signing.keys")+
			", this node's own: every node must sign with the same keys; set SWITCHBOARD_AUDIT_SIGNING_KEY (or --audit-signing-key) to the same keys on all nodes")
	}
	return out
}
