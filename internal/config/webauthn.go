package config

import (
	"net"
	"net/url"
	"strings"
)

// webauthnSettings declares the passkey (WebAuthn) settings.
func webauthnSettings(c *rawConfig) []setting {
	return []setting{
		{"webauthn-rp-id", "SWITCHBOARD_WEBAUTHN_RP_ID", "", "passkeys' relying party id: the host name (or a parent domain of it) users reach the dashboard at, e.g. example.com; default: the public URL's host. Browsers refuse an IP address: then passkeys are off", &c.webauthnRPID},
	}
}

// validateRPID returns the relying party id: the one given, or else the
// public URL's host. An IP address is kept (passkeys then answer that
// they are off, and everything else works); anything that is not a bare
// host name is a configuration error.
func validateRPID(bad func(name, format string, args ...any), raw, publicURL string) string {
	id := strings.ToLower(strings.TrimSpace(raw))
	if id == "" {
		if u, err := url.Parse(publicURL); err == nil {
			return strings.ToLower(u.Hostname())
		}
		return ""
	}
	if net.ParseIP(id) != nil {
		return id
	}
	if len(id) > 253 || strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") || strings.Contains(id, "..") {
		bad("webauthn-rp-id", "%q must be a host name such as example.com (no scheme, port or path)", raw)
		return ""
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			bad("webauthn-rp-id", "%q must be a host name such as example.com (no scheme, port or path)", raw)
			return ""
		}
	}
	return id
}
