package secret

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Key sources, in order of precedence:
//
//  1. An explicit value (--secret-key / SWITCHBOARD_SECRET_KEY): one or more
//     keys separated by commas, primary first. Every node of a cluster must
//     be given the same list. Static for the life of the process.
//  2. <data-dir>/secret.keys: one key per line (base64 or hex), primary
//     first; blank lines and lines starting with # are ignored. `switchboard
//     keys rotate` prepends a new key to it, and a running server re-reads
//     it (at least once a second while sealing, and at once when it meets a
//     value sealed under a key it does not know), so rotation needs no
//     restart.
//  3. <data-dir>/secret.key: the single key earlier versions generated. It
//     keeps working; rotation moves it into secret.keys as an older key.
//
// With none of them, a fresh key is generated into secret.keys.
const (
	KeysFile   = "secret.keys"
	LegacyFile = "secret.key"
)

// Load returns the node's keyring from value or the data dir (see above).
func Load(value, dir string) (*Keyring, error) {
	if strings.TrimSpace(value) != "" {
		keys, err := ParseKeys(strings.ReplaceAll(value, ",", "\n"))
		if err != nil {
			return nil, fmt.Errorf("SWITCHBOARD_SECRET_KEY: %w", err)
		}
		return NewKeyring(keys...)
	}
	src := &fileSource{dir: dir, every: time.Second}
	keys, err := src.read()
	if errors.Is(err, os.ErrNotExist) {
		if keys, err = createKeysFile(dir); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	kr, err := NewKeyring(keys...)
	if err != nil {
		return nil, err
	}
	src.last, src.seen = time.Now(), src.stamp()
	kr.source = src
	return kr, nil
}

// FileBacked reports whether the keyring was loaded from the data dir (and
// so can be rotated by `switchboard keys rotate` writing secret.keys).
func (kr *Keyring) FileBacked() bool { return kr.source != nil }

// SetReloadInterval changes how often a file-backed keyring re-reads its
// file while sealing (default one second).
func (kr *Keyring) SetReloadInterval(d time.Duration) {
	if kr.source != nil {
		kr.source.mu.Lock()
		kr.source.every = d
		kr.source.mu.Unlock()
	}
}

// ParseKeys reads keys written one per line (base64 or hex), primary first.
func ParseKeys(text string) ([]Key, error) {
	var keys []Key
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		raw, err := decodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		k, err := NewKey(raw)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key given")
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("neither base64 nor hex")
}

// AddPrimaryToFile generates a new key and writes it, as the new primary,
// in front of the current keys of dir's secret.keys (or the legacy
// secret.key), atomically. Running servers pick it up from the file.
func AddPrimaryToFile(dir string) (Key, error) {
	src := &fileSource{dir: dir}
	old, err := src.read()
	if err != nil {
		return Key{}, fmt.Errorf("read current keys: %w", err)
	}
	k, err := GenerateKey()
	if err != nil {
		return Key{}, err
	}
	if err := writeKeysFile(dir, append([]Key{k}, old...)); err != nil {
		return Key{}, err
	}
	return k, nil
}

// RemoveFromFile drops the key with this id from dir's secret.keys. The
// primary key cannot be removed.
func RemoveFromFile(dir, id string) error {
	src := &fileSource{dir: dir}
	keys, err := src.read()
	if err != nil {
		return err
	}
	if keys[0].ID == id {
		return fmt.Errorf("key %s is the primary key; rotate first", id)
	}
	var kept []Key
	for _, k := range keys {
		if k.ID != id {
			kept = append(kept, k)
		}
	}
	if len(kept) == len(keys) {
		return fmt.Errorf("key %s is not in %s", id, filepath.Join(dir, KeysFile))
	}
	return writeKeysFile(dir, kept)
}

func createKeysFile(dir string) ([]Key, error) {
	k, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, KeysFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// Another process won the race; use its file.
		return (&fileSource{dir: dir}).read()
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.WriteString(keysFileText([]Key{k})); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return []Key{k}, nil
}

func keysFileText(keys []Key) string {
	var b strings.Builder
	b.WriteString("# Switchboard credential-sealing keys, one per line, primary first.\n")
	b.WriteString("# Never remove a key while `switchboard keys status` shows values sealed under it.\n")
	for _, k := range keys {
		b.WriteString(k.Encode() + "\n")
	}
	return b.String()
}

func writeKeysFile(dir string, keys []Key) error {
	return WriteFileAtomic(filepath.Join(dir, KeysFile), keysFileText(keys))
}

// WriteFileAtomic replaces the file at path with text, readable by its
// owner only: written to a temporary file beside it, synced, then renamed,
// so a crash leaves the old file or the new one, never half of either.
func WriteFileAtomic(path, text string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// fileSource re-reads the keys of a data dir.
type fileSource struct {
	dir   string
	mu    sync.Mutex
	every time.Duration
	last  time.Time
	seen  string
}

func (s *fileSource) read() ([]Key, error) {
	path := filepath.Join(s.dir, KeysFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		path = filepath.Join(s.dir, LegacyFile)
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	keys, err := ParseKeys(string(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w; fix or restore it", path, err)
	}
	return keys, nil
}

// refresh re-reads a file-backed keyring when its file changed: checked
// every reload interval, or at once (forced) when a value names a key the
// keyring lacks. It reports whether the keys were replaced. A file that
// fails to read keeps the current keys.
func (kr *Keyring) refresh(force bool) bool {
	s := kr.source
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !force && time.Since(s.last) < s.every {
		return false
	}
	s.last = time.Now()
	stamp := s.stamp()
	if stamp == s.seen {
		return false
	}
	keys, err := s.read()
	if err != nil {
		return false
	}
	s.seen = stamp
	return kr.Replace(keys...) == nil
}

// stamp identifies the current key file version by name, size and mtime.
func (s *fileSource) stamp() string {
	for _, name := range []string{KeysFile, LegacyFile} {
		if st, err := os.Stat(filepath.Join(s.dir, name)); err == nil {
			return fmt.Sprintf("%s:%d:%d", name, st.Size(), st.ModTime().UnixNano())
		}
	}
	return ""
}
