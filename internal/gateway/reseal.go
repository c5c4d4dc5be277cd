package gateway

import (
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/secret"
)

// SecretStore exposes the gateways' sealed credentials to key rotation and
// the start-up key check.
func (s *Service) SecretStore() secret.Store { return CredentialStore(s.db) }

// CredentialStore is the gateways' sealed credentials, for tools (such as
// `switchboard keys`) that run without a whole service.
func CredentialStore(d *db.DB) secret.Store {
	return secret.Column{DB: d, StoreName: "gateway credentials", What: "gateway", Table: "gateways",
		Sealed: "credentials_enc", KeyID: "credentials_key_id", Context: sealContext}
}
