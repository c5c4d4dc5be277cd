package config

import (
	"strings"

	"github.com/switchboard/switchboard/internal/audit"
)

// auditSettings declares the audit log's settings.
func auditSettings(c *rawConfig) []setting {
	return []setting{
		{"audit-signing-key", "SWITCHBOARD_AUDIT_SIGNING_KEY", "", "Ed25519 keys that sign the audit log's checkpoints (32-byte seeds, base64 or hex; several comma-separated, signing key first; public:… entries only verify); default: read from, or generated into, <data-dir>/audit-signing.keys", &c.auditSigningKey},
	}
}

// validateAuditKey checks an explicit audit signing key list with the
// other settings.
func validateAuditKey(bad func(name, format string, args ...any), value string) {
	if strings.TrimSpace(value) == "" {
		return
	}
	if _, err := audit.ParseSigningKeys(strings.ReplaceAll(value, ",", "\n")); err != nil {
		bad("audit-signing-key", "must be one or more comma-separated 32-byte Ed25519 seeds written as base64 or hex, signing key first (%v)", err)
	}
}

// AuditKeys says where this node's audit checkpoint keys come from.
func (c Config) AuditKeys() audit.KeySource {
	return audit.KeySource{Value: c.AuditSigningKey, Dir: c.DataDir}
}
