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
func SecretStore(d *db.DB) secret.Store { return secretStore{d: d} }

type secretStore struct{ d *db.DB }

func (secretStore) Name() string { return "installation secrets" }

// CountByKey walks every workspace: key maintenance is a platform
// operation, and it reads only key ids.
func (c secretStore) CountByKey(ctx context.Context) (map[string]int64, error) {
	rows, err := c.d.Read().QueryContext(ctx, `SELECT secrets_key_id, COUNT(*) FROM plugin_installations
		WHERE secrets_enc <> '' GROUP BY secrets_key_id`)
	if err != nil {
		return nil, fmt.Errorf("count sealed installation secrets: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count sealed installation secrets: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// ResealBatch re-seals up to n installations' secrets that are not under
// the primary key, each update a compare-and-swap on the old sealed value
// (secrets replaced meanwhile are never overwritten with a stale copy).
func (c secretStore) ResealBatch(ctx context.Context, kr *secret.Keyring, n int) (int, error) {
	primary := kr.PrimaryID()
	type item struct{ id, ws, enc string }
	var batch []item
	// Finding old values across workspaces is the rotation's job; every
	// write below is scoped to the row's workspace.
	rows, err := c.d.Read().QueryContext(ctx, `SELECT id, workspace_id, secrets_enc FROM plugin_installations
		WHERE secrets_enc <> '' AND secrets_key_id <> $1 ORDER BY id LIMIT $2`, primary, n)
	if err != nil {
		return 0, fmt.Errorf("find installation secrets to reseal: %w", err)
	}
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.id, &it.ws, &it.enc); err != nil {
			rows.Close()
			return 0, fmt.Errorf("find installation secrets to reseal: %w", err)
		}
		batch = append(batch, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find installation secrets to reseal: %w", err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	changed := 0
	err = c.d.Tx(ctx, func(tx *db.Tx) error {
		changed = 0
		for _, it := range batch {
			plain, err := kr.Open(it.enc, secretSealContext(it.id))
			if err != nil {
				return fmt.Errorf("installation %s: %w", it.id, err)
			}
			enc, err := kr.Seal(plain, secretSealContext(it.id))
			if err != nil {
				return fmt.Errorf("installation %s: %w", it.id, err)
			}
			keyID, err := secret.KeyID(enc)
			if err != nil {
				return err
			}
			res, err := db.Scope(tx, it.ws).ExecContext(ctx, `UPDATE plugin_installations SET secrets_enc = $3, secrets_key_id = $4
				WHERE workspace_id = $1 AND id = $2 AND secrets_enc = $5`, it.id, enc, keyID, it.enc)
			if err != nil {
				return fmt.Errorf("reseal installation %s: %w", it.id, err)
			}
			if k, _ := res.RowsAffected(); k > 0 {
				changed++
			}
		}
		return nil
	})
	return changed, err
}
