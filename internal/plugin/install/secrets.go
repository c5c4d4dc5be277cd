package install

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/secret"
)

// Installation secrets are write-only values (a user's own AI provider
// key, say) given at install or update time. They are sealed with the
// keyring under the context "installation:<id>", stored in
// plugin_installations.secrets_enc with their key id, never returned by the
// API (an Installation lists only their names), never logged and never put
// in audit metadata (only their names are). Built-in plugins receive them
// in plugin.ExecutionContext.Secrets; sandboxed (WebAssembly) plugins never
// do.
const (
	MaxSecrets         = 20
	MaxSecretValueSize = 4 << 10
)

var secretName = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]{0,63}$`)

// SetKeys gives the service the keyring that seals installation secrets;
// without one, installing or updating with secrets is refused.
func (s *Service) SetKeys(kr *secret.Keyring) { s.keys = kr }

func secretSealContext(id string) string { return "installation:" + id }

// checkSecretChanges validates a request's secrets: names are identifiers
// starting with a lowercase letter (at most 64 characters), values are 1 to
// 4096 bytes, and null (allowed on update only) deletes a name.
func checkSecretChanges(changes map[string]*string, allowNull bool) error {
	if len(changes) > MaxSecrets {
		return apperr.Invalid(apperr.FieldError{Field: "secrets", Message: fmt.Sprintf("at most %d entries", MaxSecrets)})
	}
	for name, v := range changes {
		if !secretName.MatchString(name) {
			return apperr.Invalid(apperr.FieldError{Field: "secrets", Message: fmt.Sprintf("%q is not a secret name (a letter-first identifier starting lowercase, at most 64 characters)", name)})
		}
		if v == nil {
			if !allowNull {
				return apperr.Invalid(apperr.FieldError{Field: "secrets." + name, Message: "must be a string"})
			}
			continue
		}
		if *v == "" || len(*v) > MaxSecretValueSize {
			return apperr.Invalid(apperr.FieldError{Field: "secrets." + name, Message: fmt.Sprintf("must be 1 to %d bytes (null deletes it)", MaxSecretValueSize)})
		}
	}
	return nil
}

// sealSecrets seals an installation's whole secret map; an empty map is
// stored as no secrets at all.
func (s *Service) sealSecrets(id string, m map[string]string) (enc, keyID string, names []string, err error) {
	names = secretNames(m)
	if len(m) == 0 {
		return "", "", names, nil
	}
	if s.keys == nil {
		return "", "", nil, apperr.New(apperr.Conflict, "this server cannot store installation secrets")
	}
	plain, err := json.Marshal(m)
	if err != nil {
		return "", "", nil, fmt.Errorf("encode secrets: %w", err)
	}
	if enc, err = s.keys.Seal(plain, secretSealContext(id)); err != nil {
		return "", "", nil, fmt.Errorf("seal secrets of installation %s: %w", id, err)
	}
	keyID, err = secret.KeyID(enc)
	return enc, keyID, names, err
}

func secretNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// openSecrets decrypts an installation's sealed secrets (” → none).
func (s *Service) openSecrets(id, enc string) (map[string]string, error) {
	if enc == "" {
		return map[string]string{}, nil
	}
	if s.keys == nil {
		return nil, fmt.Errorf("open secrets of installation %s: no keyring", id)
	}
	plain, err := s.keys.Open(enc, secretSealContext(id))
	if err != nil {
		return nil, fmt.Errorf("open secrets of installation %s: %w", id, err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, fmt.Errorf("decode secrets of installation %s: %w", id, err)
	}
	return m, nil
}

func sealedSecrets(ctx context.Context, q db.Querier, ws, id string) (string, error) {
	var enc string
	if err := db.Scope(q, ws).QueryRowContext(ctx, `SELECT secrets_enc FROM plugin_installations WHERE workspace_id = $1 AND id = $2`, id).Scan(&enc); err != nil {
		return "", fmt.Errorf("read secrets of installation %s: %w", id, err)
	}
	return enc, nil
}

// executionSecrets returns what a run of inst may see: the installation's
// secrets for a built-in, nothing for a sandboxed plugin (whose execution
// context is handed to third-party code).
func (s *Service) executionSecrets(ctx context.Context, ws string, inst Installation) (map[string]string, error) {
	if inst.versionID != "" || len(inst.SecretNames) == 0 {
		return nil, nil
	}
	enc, err := sealedSecrets(ctx, s.db.Read(), ws, inst.ID)
	if err != nil {
		return nil, err
	}
	return s.openSecrets(inst.ID, enc)
}

// SecretStore exposes the installations' sealed secrets to key rotation
// and the start-up key check.
func (s *Service) SecretStore() secret.Store { return SecretStore(s.db) }

// SecretStore is the installations' sealed secrets, for tools (such as
// `switchboard keys`) that run without a whole service.
func SecretStore(d *db.DB) secret.Store {
	return secret.Column{DB: d, StoreName: "installation secrets", What: "installation", Table: "plugin_installations",
		Sealed: "secrets_enc", KeyID: "secrets_key_id", Present: "secrets_enc <> ''", Context: secretSealContext}
}
