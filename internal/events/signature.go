package events

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks (https://www.standardwebhooks.com/): a message is
// signed as HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>" with
// the secret's bytes, sent as "v1,<base64 signature>" in webhook-signature
// (several space-separated signatures may be sent; one valid one is
// enough). The secret is written "whsec_<base64 of its bytes>".

// SecretPrefix starts every Standard Webhooks secret.
const SecretPrefix = "whsec_"

// Header names of the scheme.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a signed timestamp may be from the receiver's clock:
// an older message is a replay, a newer one a forgery or a broken clock.
const Tolerance = 5 * time.Minute

// NewSecret returns a fresh secret of 32 random bytes in whsec_ form.
func NewSecret() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate signing secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(raw), nil
}

// SecretKey returns the HMAC key a whsec_ secret stands for (a secret
// without the prefix is taken as base64 too, as the reference libraries do).
func SecretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("the secret is not whsec_ followed by base64")
	}
	return key, nil
}

// Sign returns the webhook-signature value of a message.
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body))
}

func mac(key []byte, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(unix, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a Standard Webhooks message: the three headers present, the
// timestamp within Tolerance of now, and one v1 signature matching (compared
// in constant time). The error says which check failed, never the expected
// signature.
func Verify(key []byte, id, timestamp, signatures string, body []byte, now time.Time) error {
	if id == "" || timestamp == "" || signatures == "" {
		return errors.New("the webhook-id, webhook-timestamp and webhook-signature headers are required")
	}
	unix, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not a Unix time in seconds")
	}
	ts := time.Unix(unix, 0)
	if now.Sub(ts) > Tolerance || ts.Sub(now) > Tolerance {
		return fmt.Errorf("webhook-timestamp is more than %s from the server's clock", Tolerance)
	}
	want := mac(key, id, unix, body)
	for _, s := range strings.Fields(signatures) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && subtle.ConstantTimeCompare(got, want) == 1 {
			return nil
		}
	}
	return errors.New("no webhook-signature matches the body")
}
