// Package audit records every change Switchboard makes, in the same
// transaction as the change, as an append-only, hash-chained log.
//
// The log is made of chains: one per workspace and one for platform events
// (chains.go). Each row's hash covers its own fields and the previous row's
// hash in its chain, so editing, deleting or reordering any row breaks its
// chain from that row on; checkpoints signed with a key outside the
// database (checkpoint.go) seal each chain's head, so even a rewrite that
// recomputes every hash is found. Verify names the first row that no longer
// fits.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// Status of an audited event.
const (
	Success = "success"
	Failure = "failure"
)

// Entry is one event to record. The actor supplies who, from where and on
// whose behalf; UserID and OrganizationID override it for events where the
// subject is not (yet) the actor, such as a failed login.
type Entry struct {
	Action         string
	Resource       string
	ResourceID     string
	Status         string
	UserID         string
	OrganizationID string
	Metadata       map[string]any
	// Platform puts the event in the platform chain instead of its
	// workspace's: for events about the platform itself (admin requests).
	Platform bool
}

// Row is a stored audit event.
type Row struct {
	ID             string          `json:"id"`
	Seq            int64           `json:"seq"`
	UserID         string          `json:"userId,omitempty"`
	OrganizationID string          `json:"organizationId,omitempty"`
	ImpersonatorID string          `json:"impersonatorId,omitempty"`
	Action         string          `json:"action"`
	Resource       string          `json:"resource"`
	ResourceID     string          `json:"resourceId,omitempty"`
	Status         string          `json:"status"`
	IPAddress      string          `json:"ipAddress"`
	UserAgent      string          `json:"userAgent"`
	RequestID      string          `json:"requestId"`
	Metadata       json.RawMessage `json:"metadata"`
	CreatedAt      time.Time       `json:"createdAt"`
	// ChainID is the chain the row belongs to (its workspace, "platform"
	// or "legacy"), ChainSeq its position in that chain.
	ChainID  string `json:"chainId"`
	ChainSeq int64  `json:"chainSeq"`
	PrevHash string `json:"-"`
	Hash     string `json:"-"`
}

// Record appends e to the log inside tx. It must be called in the
// transaction of the change it describes, so the two commit together.
func Record(ctx context.Context, tx *db.Tx, a actor.Actor, e Entry) error {
	if e.Status == "" {
		e.Status = Success
	}
	userID := e.UserID
	if userID == "" {
		userID = a.UserID
	}
	orgID := e.OrganizationID
	if orgID == "" {
		orgID = a.OrganizationID
	}
	meta, err := json.Marshal(Redact(e.Metadata))
	if err != nil {
		return fmt.Errorf("audit %s: encode metadata: %w", e.Action, err)
	}
	r := Row{
		ID: ids.New(ids.Audit), UserID: userID, OrganizationID: orgID,
		ImpersonatorID: a.ImpersonatorID, Action: e.Action, Resource: e.Resource,
		ResourceID: storable(e.ResourceID), Status: e.Status, IPAddress: storable(a.IP), UserAgent: storable(a.UserAgent),
		RequestID: storable(a.RequestID), Metadata: meta, CreatedAt: db.Now(),
	}
	r.ChainID = chainOf(userID, orgID, e.Platform)
	if err := appendToChain(ctx, tx, &r); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// computeHash hashes the row's content and the previous hash. Fields are
// length-prefixed so no two different rows encode alike. Rows of the
// legacy chain keep the hash they were written with (over the global seq,
// which was their chain position); every other row's hash also covers its
// chain id.
func (r Row) computeHash() string {
	before, after := r.hashParts()
	return hashOf(before, linkField(r.PrevHash, r.ChainSeq), after)
}

func hashOf(before, link, after []byte) string {
	h := sha256.New()
	h.Write(before)
	h.Write(link)
	h.Write(after)
	return hex.EncodeToString(h.Sum(nil))
}

// hashParts is what a row's hash covers before and after its link to the
// chain (the previous hash and the row's position, linkField), which only
// the chain's head knows. On PostgreSQL the head computes the hash itself
// from these (appendToChain), so both parts must stay exactly what
// computeHash writes around the link.
func (r Row) hashParts() (before, after []byte) {
	var b, a strings.Builder
	if r.ChainID != LegacyChain {
		fmt.Fprintf(&b, "v2|%d:%s|", len(r.ChainID), r.ChainID)
	}
	for _, f := range []string{
		r.ID, r.UserID, r.OrganizationID, r.ImpersonatorID,
		r.Action, r.Resource, r.ResourceID, r.Status, r.IPAddress, r.UserAgent, r.RequestID,
		string(r.Metadata), r.CreatedAt.UTC().Format(time.RFC3339Nano),
	} {
		fmt.Fprintf(&a, "%d:%s|", len(f), f)
	}
	return []byte(b.String()), []byte(a.String())
}

// linkField encodes the previous hash and the chain position as the hash
// covers them; linkSQL is the same in SQL.
func linkField(prevHash string, chainSeq int64) []byte {
	seq := strconv.FormatInt(chainSeq, 10)
	return fmt.Appendf(nil, "%d:%s|%d:%s|", len(prevHash), prevHash, len(seq), seq)
}

// storable makes a client-supplied string fit a text column on either
// engine: PostgreSQL refuses NUL and invalid UTF-8, and an audit row must
// never fail to be written because of what a client sent. (Metadata is
// JSON, whose encoding already escapes both.)
func storable(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// sensitive key fragments: a metadata value under such a key is replaced.
var sensitive = []string{"password", "token", "secret", "apikey", "api_key", "authorization",
	"credential", "cookie", "hash", "privatekey", "private_key", "signature"}

// Redacted replaces any value whose key looks like it holds a secret.
const Redacted = "[REDACTED]"

// Redact returns a copy of m with every value under a secret-looking key
// replaced, at any depth. It is the last line of defence; callers should not
// put secrets in metadata to begin with.
func Redact(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if isSensitive(k) {
			out[k] = Redacted
			continue
		}
		out[k] = redactValue(v)
	}
	return out
}

func redactValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return Redact(t)
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = redactValue(e)
		}
		return c
	}
	return v
}

func isSensitive(k string) bool {
	k = strings.ToLower(strings.ReplaceAll(k, "-", "_"))
	for _, s := range sensitive {
		if strings.Contains(k, s) || strings.Contains(strings.ReplaceAll(k, "_", ""), s) {
			return true
		}
	}
	return false
}
