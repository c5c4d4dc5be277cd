// Package ids makes the prefixed, time-sortable identifiers used for every
// row Switchboard creates (TypeID: a prefix and a base32 UUIDv7).
package ids

import (
	"fmt"
	"strings"

	"go.jetify.com/typeid"
)

// Prefixes in use. A prefix tells a reader what an id names.
const (
	User         = "usr"
	Session      = "ses"
	APIKey       = "key"
	Audit        = "aud"
	Organization = "org"
	Department   = "dep"
	Invitation   = "inv"
	Flag         = "flg"
	Token        = "tok"
	Gateway      = "gw"
	GatewayEvent = "gwevt"
	GatewaySend  = "gwmsg"
	// CreditTransaction names a ledger row, CreditReservation a hold on a
	// balance.
	CreditTransaction = "ctr"
	CreditReservation = "rsv"
	// Plugin names a marketplace listing, PluginVersion one submitted
	// version of it, Installation a workspace's installed plugin and
	// PluginExecution one run of an installation.
	Plugin          = "plg"
	PluginVersion   = "plv"
	Installation    = "ins"
	PluginExecution = "pex"
	// Workflow names a workflow, WorkflowVersion one immutable version of
	// its definition and WorkflowRun one run.
	Workflow        = "wf"
	WorkflowVersion = "wfv"
	WorkflowRun     = "run"
	// Passkey names a registered WebAuthn credential, WebAuthnCeremony
	// the server half of a registration or sign-in in progress.
	Passkey          = "pkey"
	WebAuthnCeremony = "wac"
)

// New returns a fresh id with the given prefix.
func New(prefix string) string {
	id, err := typeid.WithPrefix(prefix)
	if err != nil {
		// Only an invalid constant prefix fails, which is a programming error.
		panic(fmt.Sprintf("ids: prefix %q: %v", prefix, err))
	}
	return id.String()
}

// Valid reports whether s is a well-formed id with the given prefix. It lets
// handlers answer 404 for garbage without a database round trip.
func Valid(prefix, s string) bool {
	if !strings.HasPrefix(s, prefix+"_") {
		return false
	}
	id, err := typeid.FromString(s)
	return err == nil && id.Prefix() == prefix
}
